//! Proof that `herald-loadtest soak`'s leak rule, on the gateway's live heap
//! (`herald_process_heap_allocated_bytes`), calls a leaking gateway LEAK
//! and a healthy one PASS, against real processes, and that the leak
//! itself exists only in a test build.
//!
//! # How 40 seconds stand for a 30-minute soak
//! The real soak (`scripts/scale.sh soak`) runs 30 min, drops a 9 min
//! (30%) warm-up, cuts the remaining 21 min into 3 windows of 7 min, samples
//! every 10 s (42 samples a window), and calls LEAK above 0.5 MB/h: a
//! 1 MB/h leak is twice the threshold. Here the clock runs
//! [`TIME_SCALE`] = 1800 s / 40 s = 45 times faster, and everything that
//! has a time in it is scaled together:
//!
//! | | real soak | this test (÷ 45 in time) |
//! | --- | --- | --- |
//! | duration | 1800 s | 40 s |
//! | warm-up | 540 s | 12 s |
//! | windows | 3 × 420 s | 3 × 9.3 s |
//! | sample interval | 10 s (42 a window) | 0.25 s (37 a window) |
//! | rooms' histories full (100 messages each) | after 250 s | after 5 s |
//! | threshold | 0.5 MB/h | 0.5 × 45 = 22.5 MB/h |
//! | 1 MB/h leak | 1 MB/h, 0.117 MB a window | 45 MB/h = 12.5 kB/s, 0.117 MB a window |
//!
//! So the rule sees a 1 MB/h leak as it would in a real soak: the same
//! number of windows and samples, the same bytes leaked per window, the same
//! ratio of leak to threshold. The publish rate is raised with the clock
//! only as far as needed for the rooms' histories to fill inside the
//! warm-up, as they do in the real soak (200 messages/s over 10 rooms,
//! 2,000 deliveries/s). The leak is per accepted connection (the only
//! place the test build leaks), so at 50 reconnects/s 12.5 kB/s is 250
//! bytes per connection.
//!
//! # Why the test leaks twice that ([`LEAK_MARGIN`])
//! What does not scale is the heap's jitter: connections come and go
//! between samples in both runs (25 reconnects/s on each of the real soak's
//! two gateways, 50/s on this test's one), and the short run's heap has not
//! quite settled 12 s in. Measured on this 2-core machine (debug
//! builds, 2026-12-02), a window's slope lay up to 23 MB/h from the whole
//! run's here, where in the recorded 30-minute soak it lies up to
//! 0.19 MB/h from it, i.e. 8.5 MB/h on this test's scale
//! (`loadtest/tests/fixtures/healthy-soak.csv`). A scaled 1 MB/h leak (250
//! bytes per connection) was called LEAK in 4 runs out of 4 (one of them
//! sampling every 100 ms), at 45.0–46.4 MB/h, but its weakest window came
//! out at 23.4 MB/h against the 22.5 threshold once: a test on that edge
//! would be flaky.
//! So the test leaks the scaled equivalent of 2 MB/h (90 MB/h, 500 bytes per
//! connection, 4× the threshold), and asserts the fitted slope is about
//! that. That 1 MB/h itself is resolved on a real 30-minute series is what
//! `loadtest/tests/soak_fixture.rs` proves, on the recorded fixture.
//!
//! # Contention
//! The machine's load average is not judged (`--max-load-per-core` is
//! raised): the contention guard needs a minute of samples anyway, these
//! runs share two cores with other tests, and the guard is unit-tested in
//! `loadtest`. The assertions are on the detector's verdicts, never on
//! speed.
//!
//! The soaks take 40 s each and are outside the default run:
//! `cargo nextest run -p herald-tests --test soak_leak --run-ignored all`.
//! The leaky gateway is built on first use ([`herald_tests::leaky`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use herald_protocol::RoomName;
use herald_protocol::native::ClientFrame;
use herald_tests::gateway::GatewayProc;
use herald_tests::leaky::leaky_gateway_bin;
use herald_tests::process::{Proc, bin};
use herald_tests::ws::Client;
use serde_json::Value;

/// 30 minutes of real soak over this test's 40 s.
const TIME_SCALE: f64 = 1800.0 / SOAK_S;
/// The soak's length, seconds.
const SOAK_S: f64 = 40.0;
/// 30% of it.
const WARMUP_S: f64 = 12.0;
/// Reconnects per second across the soak's clients.
const CHURN_PER_S: f64 = 50.0;
/// The real soak's threshold, 0.5 MB/h, in this test's time.
const THRESHOLD_MB_PER_HOUR: f64 = 0.5 * TIME_SCALE;
/// The leak, in real-soak MB/h, as a multiple of 1 MB/h (see the module docs).
const LEAK_MARGIN: f64 = 2.0;
/// The leak in this test's time: 2 MB/h × 45 = 90 MB/h.
const LEAK_MB_PER_HOUR: f64 = LEAK_MARGIN * TIME_SCALE;
/// Bytes leaked per accepted connection for [`LEAK_MB_PER_HOUR`] at
/// [`CHURN_PER_S`]: 90e6 / 3600 / 50 = 500.
const LEAK_BYTES: usize = (LEAK_MB_PER_HOUR * 1e6 / 3600.0 / CHURN_PER_S) as usize;

/// Runs the scaled soak against a gateway; returns the exit code and the
/// JSON report.
fn soak(ws_url: &str, admin_url: &str, json: &Path) -> (i32, Value) {
    let args: Vec<String> = [
        "soak",
        "--url",
        ws_url,
        "--admin",
        admin_url,
        "--clients",
        "100",
        "--rooms",
        "10",
        "--rate",
        "200",
        "--churn-rate",
        &CHURN_PER_S.to_string(),
        "--connect-rate",
        "0",
        "--settle",
        "1s",
        "--drain",
        "2s",
        "--duration",
        &format!("{SOAK_S}s"),
        "--sample-interval",
        "250ms",
        "--warmup",
        &format!("{WARMUP_S}s"),
        "--leak-windows",
        "3",
        "--leak-threshold-mb-per-hour",
        &THRESHOLD_MB_PER_HOUR.to_string(),
        "--max-load-per-core",
        "1000",
        "--source-addrs",
        "1",
        "--no-progress",
        "--json",
        json.to_str().expect("utf-8 path"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = Proc::spawn(&bin("herald-loadtest"), &args);
    let code = p
        .wait_exit(Duration::from_secs(150))
        .unwrap_or_else(|| panic!("soak did not finish; log:\n{}", p.log_text()));
    let text = std::fs::read_to_string(json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); exit {code}; log:\n{}", p.log_text()));
    let report: Value = serde_json::from_str(&text).expect("JSON report");
    let stdout: Vec<String> = p.stdout.try_iter().collect();
    eprintln!("soak exit {code}:\n{}", stdout.join("\n"));
    (code, report)
}

/// The one gateway's entry in the report.
fn gateway_of(report: &Value) -> &Value {
    let gws = report["gateways"].as_array().expect("gateways array");
    assert_eq!(gws.len(), 1, "one gateway: {report}");
    &gws[0]
}

/// `(seconds, bytes)` points of one of the report's series.
fn points(g: &Value, key: &str) -> Vec<(f64, f64)> {
    g[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {g}"))
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// The spread of the live heap after the warm-up, MB: its range around a
/// straight line through the first and last points would hide a step, so
/// this is simply max − min, printed to document the test's noise.
fn heap_range_mb(g: &Value) -> f64 {
    let kept: Vec<f64> = points(g, "heap_samples")
        .into_iter()
        .filter(|(t, _)| *t >= WARMUP_S)
        .map(|(_, b)| b / 1e6)
        .collect();
    let max = kept.iter().copied().fold(f64::MIN, f64::max);
    let min = kept.iter().copied().fold(f64::MAX, f64::min);
    max - min
}

#[test]
#[ignore = "a 40 s soak plus a build of the leaky gateway: cargo nextest run -p herald-tests --test soak_leak --run-ignored all"]
fn a_leaky_build_at_a_scaled_two_mb_per_hour_is_called_leak() {
    let leaky_bin = leaky_gateway_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let leaky = GatewayProc::start_bin(
        &leaky_bin,
        &[
            "--standalone",
            "--demo-rate",
            "0",
            "--debug-leak-bytes-per-connection",
            &LEAK_BYTES.to_string(),
        ],
    );
    let (code, report) = soak(
        &leaky.ws_url(),
        &leaky.admin_url(),
        &dir.path().join("leak.json"),
    );
    drop(leaky);
    let g = gateway_of(&report);
    let leak = &g["leak"];
    assert_eq!(leak["signal"], "heap", "judged on the live heap: {leak}");
    assert_eq!(leak["verdict"], "LEAK", "{leak}");
    assert_eq!(code, 3, "exit code 3 = LEAK: {report}");
    let slope = leak["fit"]["slope"].as_f64().expect("slope");
    // The leak is 90 MB/h here; the fit must find about that, not just
    // anything above the threshold.
    assert!(
        (0.5 * LEAK_MB_PER_HOUR..2.0 * LEAK_MB_PER_HOUR).contains(&slope),
        "slope {slope} MB/h for a {LEAK_MB_PER_HOUR} MB/h leak: {leak}"
    );
    assert!(leak["discarded"].as_u64().expect("discarded") > 0, "{leak}");
    let windows = leak["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 3, "{leak}");
    assert!(
        report["counters"]["client_closes"].as_u64().unwrap_or(0) > 1000,
        "the soak churned: {}",
        report["counters"]
    );
    eprintln!(
        "leaky gateway: slope {slope:.1} MB/h (leak {LEAK_MB_PER_HOUR} MB/h, threshold {THRESHOLD_MB_PER_HOUR} MB/h), heap range after warm-up {:.3} MB",
        heap_range_mb(g)
    );
}

/// Opens `n` clients, each subscribed to its own room, holds them for
/// `hold`, then drops them all.
async fn burst(ws_url: &str, n: usize, hold: Duration) {
    let mut clients = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let opened = futures_util::future::join_all(chunk.iter().map(|i| async move {
            let (mut c, _) = Client::connect(ws_url).await;
            c.send(&ClientFrame::Subscribe {
                room: RoomName::new(&format!("burst:{i}")).unwrap(),
                since: None,
                leave_others: false,
                token: None,
                id: Some(1),
            })
            .await;
            c
        }))
        .await;
        clients.extend(opened);
    }
    tokio::time::sleep(hold).await;
    drop(clients);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 40 s soak: cargo nextest run -p herald-tests --test soak_leak --run-ignored all"]
async fn a_healthy_gateway_with_a_retained_burst_is_called_pass() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (ws_url, admin_url) = (gw.ws_url(), gw.admin_url());
    let json = dir.path().join("flat.json");
    let soaked = {
        let (ws_url, admin_url) = (ws_url.clone(), admin_url.clone());
        std::thread::spawn(move || soak(&ws_url, &admin_url, &json))
    };
    // Past the warm-up, in the first window: 1000 more connections, each in
    // a room of its own, for 2 s. The gateway's maps grow to hold them and
    // keep that capacity (live heap that stays), and the allocator keeps
    // much of the freed buffers (RSS and retained bytes that stay).
    tokio::time::sleep(Duration::from_secs_f64(WARMUP_S + 3.0)).await;
    burst(&ws_url, 1000, Duration::from_secs(2)).await;
    let (code, report) = tokio::task::spawn_blocking(move || soaked.join().expect("soak thread"))
        .await
        .expect("join");
    let g = gateway_of(&report);
    let leak = &g["leak"];
    assert_eq!(leak["signal"], "heap", "judged on the live heap: {leak}");
    // The burst happened, and was large against the threshold.
    let heap = points(g, "heap_samples");
    let before = heap
        .iter()
        .filter(|(t, _)| (WARMUP_S..WARMUP_S + 3.0).contains(t))
        .map(|p| p.1)
        .fold(f64::MAX, f64::min);
    let peak = heap.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    assert!(
        peak - before > 2e6,
        "the burst lifted the heap by {:.3} MB only",
        (peak - before) / 1e6
    );
    // And it left memory behind that a first-to-last comparison of RSS
    // would call growth: the allocator kept the freed pages.
    let rss = points(g, "rss_samples");
    let rss_before = rss
        .iter()
        .filter(|(t, _)| (WARMUP_S..WARMUP_S + 3.0).contains(t))
        .map(|p| p.1)
        .fold(f64::MAX, f64::min);
    let rss_after = rss.last().expect("RSS samples").1;
    let heap_after = heap.last().expect("heap samples").1;
    eprintln!(
        "after the burst: RSS {:+.2} MB, live heap {:+.2} MB against before it",
        (rss_after - rss_before) / 1e6,
        (heap_after - before) / 1e6
    );
    assert!(
        rss_after - rss_before > 1e6,
        "the burst left RSS {:.2} MB above its level before: no retention to tell apart",
        (rss_after - rss_before) / 1e6
    );
    assert_eq!(leak["verdict"], "PASS", "{leak}");
    assert_eq!(
        code, 0,
        "exit code 0 = PASS with clean deliveries: {report}"
    );
    assert!(
        report["check"]["delivered"].as_u64().unwrap_or(0) > 0,
        "messages flowed during the soak: {}",
        report["check"]
    );
    eprintln!(
        "healthy gateway: heap slope {} MB/h, windows {}, burst peak +{:.1} MB, heap range after warm-up {:.3} MB; retention: {}",
        leak["fit"]["slope"],
        leak["windows"],
        (peak - before) / 1e6,
        heap_range_mb(g),
        g["retention"]
    );
}

/// The workspace's own `herald-gateway` (`cargo build --workspace --bins`,
/// the same feature resolution as `cargo build --release --workspace`) has
/// no leak option: were any member to enable `debug-leak` in a dependency,
/// cargo would unify it into this binary and this test would fail.
#[test]
fn a_release_gateway_refuses_the_leak_option_naming_it() {
    let mut p = Proc::spawn(
        &bin("herald-gateway"),
        &[
            "--standalone".into(),
            "--debug-leak-bytes-per-connection".into(),
            "1".into(),
        ],
    );
    let code = p.wait_exit(Duration::from_secs(20)).expect("exits at once");
    let log = p.log_text();
    assert_eq!(code, 2, "clap's usage error: {log}");
    assert!(
        log.contains("--debug-leak-bytes-per-connection"),
        "names the option: {log}"
    );

    // Nor can a config file turn it on.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        "standalone = true\ndebug_leak_bytes_per_connection = 1\n",
    )
    .unwrap();
    let mut p = Proc::spawn(
        &bin("herald-gateway"),
        &["--config".into(), file.display().to_string()],
    );
    let code = p.wait_exit(Duration::from_secs(20)).expect("exits at once");
    let log = p.log_text();
    assert_eq!(code, 2, "an unknown config key: {log}");
    assert!(
        log.contains("debug_leak_bytes_per_connection"),
        "names the key: {log}"
    );
}
