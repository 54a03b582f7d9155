//! The soak's leak rule on a recorded real series: a healthy 30-minute
//! churn soak of a release gateway under jemalloc
//! (`tests/fixtures/healthy-soak.csv`; how it was recorded is in its
//! header). As recorded it is PASS on the live heap, while RSS alone would
//! have been called a leak (allocator retention); with 1 MB/h added it is
//! LEAK; through the soak's bounded series the verdicts hold.
//!
//! (A 10-minute recording was tried first: its live heap was still filling
//! the rooms' histories until minute 5, and its 2-minute windows could not
//! resolve 1 MB/h against the heap's ±0.05 MB jitter, so it is not used.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herald_loadtest::metrics_scrape::GatewaySample;
use herald_loadtest::scenarios::soak_verdict::{
    GatewayVerdict, MemorySeries, analyse_gateway, decide,
};
use herald_loadtest::stats::contention::{Contention, ContentionRule};
use herald_loadtest::stats::leak::{LeakRule, LeakVerdict, MB, Signal};

/// One row of the fixture.
struct Row {
    t_s: f64,
    rss: Option<f64>,
    heap: Option<f64>,
    resident: Option<f64>,
    retained: Option<f64>,
}

fn fixture() -> Vec<Row> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/healthy-soak.csv"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(
        header,
        [
            "t_s",
            "rss_bytes",
            "heap_allocated_bytes",
            "heap_resident_bytes",
            "heap_retained_bytes",
            "loadavg1"
        ]
    );
    lines
        .map(|l| {
            let f: Vec<Option<f64>> = l.split(',').map(|v| v.trim().parse().ok()).collect();
            Row {
                t_s: f[0].expect("time"),
                rss: f[1],
                heap: f[2],
                resident: f[3],
                retained: f[4],
            }
        })
        .collect()
}

/// The soak's defaults for this 30-minute run: 30% warm-up, 0.5 MB/h, 3 windows.
const RULE: LeakRule = LeakRule {
    threshold_mb_per_hour: 0.5,
    warmup_s: 540.0,
    windows: 3,
};

/// `(seconds, bytes)` samples.
type Series = Vec<(f64, f64)>;

/// `(heap, rss)` series, with `mb_per_hour` added to the heap (and to RSS,
/// since live memory is resident too).
fn series(rows: &[Row], mb_per_hour: f64) -> (Series, Series) {
    let add = |t: f64| mb_per_hour * MB * t / 3600.0;
    let heap = rows
        .iter()
        .filter_map(|r| Some((r.t_s, r.heap? + add(r.t_s))))
        .collect();
    let rss = rows
        .iter()
        .filter_map(|r| Some((r.t_s, r.rss? + add(r.t_s))))
        .collect();
    (heap, rss)
}

fn quiet() -> Contention {
    Contention::new(
        2,
        ContentionRule {
            max_load_per_core: 1.0,
            max_fraction: 0.25,
        },
    )
}

fn run_verdict(g: GatewayVerdict) -> LeakVerdict {
    let mut gws = vec![("gw".to_owned(), g)];
    decide(&mut gws, &quiet(), false).verdict
}

#[test]
fn the_fixture_is_a_real_soak_with_heap_and_rss() {
    let rows = fixture();
    assert!(rows.len() >= 175, "{} rows", rows.len());
    assert!(rows.iter().filter(|r| r.heap.is_some()).count() >= rows.len() - 2);
    assert!(rows.iter().all(|r| r.rss.is_some()));
    assert!(
        rows.iter()
            .any(|r| r.resident.is_some() && r.retained.is_some())
    );
    let last = rows.last().unwrap().t_s;
    assert!((1770.0..=1820.0).contains(&last), "{last}");
}

#[test]
fn the_recorded_healthy_soak_passes() {
    let (heap, rss) = series(&fixture(), 0.0);
    let g = analyse_gateway(&heap, &rss, &RULE);
    assert_eq!(g.leak.signal, Signal::Heap);
    assert_eq!(g.leak.verdict, LeakVerdict::Pass, "{:?}", g.leak);
    assert_eq!(run_verdict(g), LeakVerdict::Pass);
}

#[test]
fn rss_alone_would_call_it_a_leak_and_the_heap_names_it_retention() {
    let (heap, rss) = series(&fixture(), 0.0);
    let alone = analyse_gateway(&[], &rss, &RULE);
    assert_eq!(alone.leak.verdict, LeakVerdict::Leak, "{:?}", alone.leak);
    let g = analyse_gateway(&heap, &rss, &RULE);
    assert_eq!(g.rss_leak.unwrap().verdict, LeakVerdict::Leak);
    let note = g.retention.expect("retention is named");
    assert!(note.contains("allocator retention, not a leak"), "{note}");
}

#[test]
fn with_one_mb_per_hour_added_it_is_a_leak() {
    let (heap, rss) = series(&fixture(), 1.0);
    let g = analyse_gateway(&heap, &rss, &RULE);
    assert_eq!(g.leak.verdict, LeakVerdict::Leak, "{:?}", g.leak);
    let slope = g.leak.fit.unwrap().slope;
    assert!((0.6..1.6).contains(&slope), "slope {slope}");
    assert_eq!(run_verdict(g.clone()), LeakVerdict::Leak);
    // On a contended machine the same series is not called a leak.
    let mut busy = quiet();
    for _ in 0..4 {
        busy.observe(7.0);
    }
    let mut gws = vec![("gw".to_owned(), g)];
    assert_eq!(
        decide(&mut gws, &busy, false).verdict,
        LeakVerdict::Inconclusive
    );
}

#[test]
fn the_verdicts_hold_through_the_soaks_bounded_series() {
    // A 32-point cap merges the 181 samples into 8-sample points.
    for (added, want) in [(0.0, LeakVerdict::Pass), (1.0, LeakVerdict::Leak)] {
        let mut m = MemorySeries::new(32);
        let rule = RULE;
        for r in fixture() {
            let add = added * MB * r.t_s / 3600.0;
            m.push(
                r.t_s,
                &GatewaySample {
                    rss_bytes: r.rss.map(|v| v + add),
                    heap_allocated_bytes: r.heap.map(|v| v + add),
                    heap_resident_bytes: r.resident,
                    heap_retained_bytes: r.retained,
                    ..GatewaySample::default()
                },
            );
        }
        assert!(m.heap.points().len() <= 33);
        assert_eq!(m.heap.stride(), 8);
        let g = analyse_gateway(&m.heap.points(), &m.rss.points(), &rule);
        assert_eq!(g.leak.verdict, want, "added {added} MB/h: {:?}", g.leak);
    }
}

#[test]
fn without_the_heap_metric_rss_alone_still_catches_the_added_leak() {
    let (_, rss) = series(&fixture(), 1.0);
    let g = analyse_gateway(&[], &rss, &RULE);
    assert_eq!(g.leak.signal, Signal::Rss);
    assert_eq!(g.leak.verdict, LeakVerdict::Leak, "{:?}", g.leak);
    assert!(g.leak.reason.starts_with("RSS only"));
}
