//! Proof that `herald-loadtest soak`'s leak detector separates a leaking
//! gateway from a flat one, against real processes.
//!
//! # Why these numbers
//! - **The leak.** The gateway's hidden `--debug-leak-bytes-per-connection`
//!   leaks (and touches) 64 KiB per accepted connection. The soak churns 100
//!   clients at 50 reconnects/s, so the leaking gateway grows by about
//!   50 × 64 KiB = 3.3 MB/s, i.e. about 11,800 MB/hour.
//! - **The threshold.** `--leak-threshold-mb-per-hour 1000` sits 12× below
//!   that slope, and is about 0.28 MB/s: over the measured window (≈17 s
//!   after warm-up) a flat gateway would have to grow by ~5 MB *steadily*,
//!   with the 95% interval of the slope above the threshold, to be called a
//!   leak. A debug gateway serving 100 churning clients does not: its RSS
//!   steps up while allocator arenas and buffers warm up, then plateaus.
//! - **The rule.** LEAK needs the slope's 95% lower bound above the
//!   threshold, not just the point estimate, so noise on a busy 2-core
//!   machine (sample jitter, a late arena) cannot flip a flat run; the leak's
//!   interval is narrow because 3.3 MB/s dwarfs that noise.
//! - **The warm-up.** The first 30% of the soak (7 s) is discarded: the
//!   early step-up is where a flat gateway's RSS moves most.
//! - **Sampling.** Every 500 ms, so ≈34 samples are fitted: enough for a
//!   tight interval in 24 s.
//!
//! Both runs use the workspace's debug `herald-gateway` and
//! `herald-loadtest` binaries (built before the tests run). The assertion
//! is on the detector's verdict, never on speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use herald_tests::gateway::GatewayProc;
use herald_tests::process::{Proc, bin};
use serde_json::Value;

/// 64 KiB leaked per accepted connection.
const LEAK_BYTES: &str = "65536";
/// MB/hour; the leaking run's slope is ~11,800.
const THRESHOLD_MB_PER_HOUR: &str = "1000";

/// Runs a 24-second churning soak against `gw`; returns the exit code and
/// the JSON report.
fn soak(gw: &GatewayProc, json: &Path) -> (i32, Value) {
    let args: Vec<String> = [
        "soak",
        "--url",
        &gw.ws_url(),
        "--admin",
        &gw.admin_url(),
        "--clients",
        "100",
        "--rooms",
        "10",
        "--rate",
        "20",
        "--churn-rate",
        "50",
        "--connect-rate",
        "0",
        "--settle",
        "1s",
        "--drain",
        "2s",
        "--duration",
        "24s",
        "--sample-interval",
        "500ms",
        "--warmup",
        "7s",
        "--leak-threshold-mb-per-hour",
        THRESHOLD_MB_PER_HOUR,
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
        .wait_exit(Duration::from_secs(180))
        .unwrap_or_else(|| panic!("soak did not finish; log:\n{}", p.log_text()));
    let text = std::fs::read_to_string(json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); exit {code}; log:\n{}", p.log_text()));
    let report: Value = serde_json::from_str(&text).expect("JSON report");
    let stdout: Vec<String> = p.stdout.try_iter().collect();
    eprintln!("soak exit {code}:\n{}", stdout.join("\n"));
    (code, report)
}

fn leak_of(report: &Value) -> &Value {
    let gws = report["gateways"].as_array().expect("gateways array");
    assert_eq!(gws.len(), 1, "one gateway: {report}");
    &gws[0]["leak"]
}

#[test]
#[ignore = "a 48 s soak, outside the default run: cargo nextest run -p herald-tests --test soak_leak --run-ignored only"]
fn the_soak_calls_a_leaking_gateway_leak_and_a_flat_one_pass() {
    let dir = tempfile::tempdir().expect("temp dir");

    let leaky = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--debug-leak-bytes-per-connection",
        LEAK_BYTES,
    ]);
    let (code, report) = soak(&leaky, &dir.path().join("leak.json"));
    drop(leaky);
    let leak = leak_of(&report);
    assert_eq!(leak["verdict"], "LEAK", "{leak}");
    assert_eq!(code, 3, "exit code 3 = LEAK: {report}");
    let slope = leak["fit"]["slope"].as_f64().expect("slope");
    let ci_low = leak["fit"]["ci_low"].as_f64().expect("ci_low");
    // ~11,800 MB/h expected; the bound only says "far above the threshold".
    assert!(slope > 3000.0 && ci_low > 1000.0, "{leak}");
    assert!(leak["discarded"].as_u64().expect("discarded") > 0, "{leak}");
    assert!(
        report["counters"]["client_closes"].as_u64().unwrap_or(0) > 500,
        "the soak churned: {}",
        report["counters"]
    );

    let flat = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let (code, report) = soak(&flat, &dir.path().join("flat.json"));
    let leak = leak_of(&report);
    assert_eq!(leak["verdict"], "PASS", "{leak}");
    assert_eq!(
        code, 0,
        "exit code 0 = PASS with clean deliveries: {report}"
    );
    assert!(
        report["check"]["delivered"].as_u64().unwrap_or(0) > 0,
        "messages flowed during the flat soak: {}",
        report["check"]
    );
}
