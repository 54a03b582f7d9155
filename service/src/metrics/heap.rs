//! The allocator's own statistics (jemalloc), read at scrape time.
//!
//! Every Herald binary sets `tikv_jemallocator::Jemalloc` as its
//! `#[global_allocator]`, so these figures cover all of its heap. RSS alone
//! cannot tell a leak from allocator retention (freed pages the allocator
//! keeps for reuse); the live heap, `stats.allocated`, can. In a process
//! whose global allocator is not jemalloc the figures are valid but cover
//! only jemalloc's own small bookkeeping.

use std::fmt::Write;

use tikv_jemalloc_ctl::{epoch, stats};

/// Gauge: bytes the allocator has handed out and not had back (jemalloc
/// `stats.allocated`), the live heap.
pub const HEAP_ALLOCATED: &str = "herald_process_heap_allocated_bytes";
/// Gauge: bytes in pages the allocator holds resident (jemalloc
/// `stats.resident`), live heap plus its metadata and dirty pages.
pub const HEAP_RESIDENT: &str = "herald_process_heap_resident_bytes";
/// Gauge: bytes the allocator keeps mapped for reuse but has returned to
/// the operating system (jemalloc `stats.retained`).
pub const HEAP_RETAINED: &str = "herald_process_heap_retained_bytes";

/// Why the allocator's statistics could not be read.
#[derive(Debug, thiserror::Error)]
#[error("jemalloc {stat}: {source}")]
pub struct HeapError {
    /// The `mallctl` name that failed.
    pub stat: &'static str,
    /// jemalloc's error.
    #[source]
    pub source: tikv_jemalloc_ctl::Error,
}

/// One reading of the allocator's statistics, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// `stats.allocated`: the live heap.
    pub allocated: u64,
    /// `stats.resident`: pages the allocator holds resident.
    pub resident: u64,
    /// `stats.retained`: mappings kept for reuse, returned to the OS.
    pub retained: u64,
}

/// Advances jemalloc's statistics epoch (its figures are a snapshot taken
/// at the last advance) and reads them.
///
/// # Errors
/// [`HeapError`] naming the statistic jemalloc refused, e.g. when it was
/// built without statistics.
pub fn read() -> Result<HeapStats, HeapError> {
    let err = |stat: &'static str| move |source| HeapError { stat, source };
    epoch::advance().map_err(err("epoch"))?;
    let allocated = stats::allocated::read().map_err(err("stats.allocated"))?;
    let resident = stats::resident::read().map_err(err("stats.resident"))?;
    let retained = stats::retained::read().map_err(err("stats.retained"))?;
    Ok(HeapStats {
        allocated: allocated as u64,
        resident: resident as u64,
        retained: retained as u64,
    })
}

/// Appends the three `herald_process_heap_*_bytes` gauges in Prometheus text
/// format. When jemalloc cannot be read it logs once per call at debug
/// level and appends nothing.
pub fn render(out: &mut String) {
    let s = match read() {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("no heap metrics: {e}");
            return;
        }
    };
    for (name, help, value) in [
        (
            HEAP_ALLOCATED,
            "Bytes allocated and not yet freed (jemalloc stats.allocated): the live heap.",
            s.allocated,
        ),
        (
            HEAP_RESIDENT,
            "Bytes in physically resident pages held by the allocator (jemalloc stats.resident).",
            s.resident,
        ),
        (
            HEAP_RETAINED,
            "Bytes the allocator keeps mapped for reuse, returned to the OS (jemalloc stats.retained).",
            s.retained,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {value}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// The value of `name` in rendered text.
    fn value(text: &str, name: &str) -> Option<u64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn the_live_heap_rises_by_what_is_held_and_falls_when_freed() {
        let before = read().expect("jemalloc stats");
        // 64 MiB, every page written so that it is resident too.
        let held: Vec<u8> = std::hint::black_box(vec![0x5A; 64 * MIB as usize]);
        let during = read().expect("jemalloc stats");
        // Other tests in this binary allocate concurrently: allow them 16 MiB.
        let rise = during.allocated as i64 - before.allocated as i64;
        assert!(
            (48 * MIB as i64..=80 * MIB as i64).contains(&rise),
            "allocated rose by {rise} bytes: {before:?} -> {during:?}"
        );
        assert!(during.resident >= during.allocated, "{during:?}");
        assert!(held.iter().step_by(4096).all(|&b| b == 0x5A));
        drop(held);
        let after = read().expect("jemalloc stats");
        assert!(
            after.allocated + 48 * MIB <= during.allocated,
            "freeing 64 MiB did not lower the live heap: {during:?} -> {after:?}"
        );
    }

    #[test]
    fn renders_the_three_gauges_with_help_and_type() {
        let held: Vec<u8> = std::hint::black_box(vec![1; 64 * MIB as usize]);
        let mut out = String::new();
        render(&mut out);
        for name in [HEAP_ALLOCATED, HEAP_RESIDENT, HEAP_RETAINED] {
            assert!(out.contains(&format!("# TYPE {name} gauge\n")), "{out}");
            assert!(out.contains(&format!("# HELP {name} ")), "{out}");
            assert!(value(&out, name).is_some(), "{name} in {out}");
        }
        let allocated = value(&out, HEAP_ALLOCATED).unwrap();
        assert!(allocated >= 64 * MIB, "{out}");
        drop(held);
    }
}
