//! The standard process metrics, read from `/proc/self` at scrape time.

use std::fmt::Write;

/// Appends `process_resident_memory_bytes`, `process_cpu_seconds_total`,
/// `process_open_fds` and `process_start_time_seconds` in Prometheus text
/// format. On a system without `/proc` it appends nothing.
pub fn render(out: &mut String) {
    let Some(p) = read() else { return };
    let _ = writeln!(
        out,
        "# HELP process_resident_memory_bytes Resident memory size in bytes."
    );
    let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
    let _ = writeln!(out, "process_resident_memory_bytes {}", p.rss_bytes);
    let _ = writeln!(
        out,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
    );
    let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
    let _ = writeln!(out, "process_cpu_seconds_total {}", p.cpu_seconds);
    let _ = writeln!(
        out,
        "# HELP process_open_fds Number of open file descriptors."
    );
    let _ = writeln!(out, "# TYPE process_open_fds gauge");
    let _ = writeln!(out, "process_open_fds {}", p.open_fds);
    if let Some(start) = p.start_time_seconds {
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds."
        );
        let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
        let _ = writeln!(out, "process_start_time_seconds {start}");
    }
}

/// A reading of the process's own statistics.
#[derive(Debug, Clone, Copy)]
pub struct ProcessStats {
    /// Resident set size.
    pub rss_bytes: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Process start, Unix seconds.
    pub start_time_seconds: Option<f64>,
}

/// Reads `/proc/self/stat`, `/proc/self/statm` and `/proc/self/fd`.
pub fn read() -> Option<ProcessStats> {
    const TICKS: f64 = 100.0; // USER_HZ on Linux
    const PAGE: u64 = 4096;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let rss_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime is field 14, stime 15, starttime 22.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let start_ticks: f64 = fields.get(19)?.parse().ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let start_time_seconds = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        let btime: f64 = s
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(btime + start_ticks / TICKS)
    });
    Some(ProcessStats {
        rss_bytes: rss_pages * PAGE,
        cpu_seconds: (utime + stime) / TICKS,
        open_fds,
        start_time_seconds,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_plausible_values_on_linux() {
        let p = super::read().expect("/proc is readable");
        assert!(p.rss_bytes > 1_000_000, "{p:?}");
        assert!(p.open_fds >= 3);
        let mut out = String::new();
        super::render(&mut out);
        assert!(out.contains("process_resident_memory_bytes "));
    }
}
