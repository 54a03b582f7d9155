//! `herald-loadtest fanout` over WebTransport, raw QUIC and SSE against a
//! real standalone gateway: every published message reaches every
//! subscribed client exactly once and in order, by the load generator's own
//! delivery checker (the JSON report's `check`). The QUIC transports fetch
//! the gateway's self-signed certificate hash from `/wt/certificate-hash`
//! (derived from the `ws://` URL); nothing skips verification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_tests::gateway::GatewayProc;
use herald_tests::process::{Proc, bin};
use serde_json::Value;

/// Runs a short fan-out over `transport`; returns the exit code and the report.
fn fanout(gw: &GatewayProc, transport: &str, dir: &std::path::Path) -> (i32, Value) {
    let json = dir.join(format!("{transport}.json"));
    let args: Vec<String> = [
        "fanout",
        "--transport",
        transport,
        "--url",
        &gw.ws_url(),
        "--admin",
        &gw.admin_url(),
        "--clients",
        "6",
        "--rooms",
        "3",
        "--rooms-per-client",
        "2",
        "--rate",
        "60",
        "--duration",
        "3s",
        "--connect-rate",
        "0",
        "--settle",
        "500ms",
        "--drain",
        "1500ms",
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
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{transport}: fanout did not finish; log:\n{}", p.log_text()));
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "{transport}: no JSON report ({e}); exit {code}; log:\n{}",
            p.log_text()
        )
    });
    (code, serde_json::from_str(&text).expect("JSON report"))
}

#[test]
fn fanout_over_webtransport_quic_and_sse_delivers_every_message_once_in_order() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let dir = tempfile::tempdir().expect("temp dir");
    for transport in ["webtransport", "quic", "sse"] {
        let (code, report) = fanout(&gw, transport, dir.path());
        let check = &report["check"];
        let n = |k: &str| {
            check[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} in {check}"))
        };
        assert_eq!(code, 0, "{transport}: exit {code}: {report}");
        assert_eq!(
            report["counters"]["connect_fail"], 0,
            "{transport}: {report}"
        );
        // 6 clients × 2 rooms each.
        assert_eq!(n("streams"), 12, "{transport}: {check}");
        assert!(n("expected") > 0, "{transport}: nothing published: {check}");
        assert_eq!(n("delivered"), n("expected"), "{transport}: {check}");
        for k in ["duplicates", "missing", "out_of_order", "seq_mismatches"] {
            assert_eq!(n(k), 0, "{transport}: {k}: {check}");
        }
    }
}
