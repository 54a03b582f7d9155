//! The dashboard page in headless Chromium against a real standalone
//! gateway: it loads, shows a snapshot, then live updates, and focusing a
//! section switches rooms; and herald.js's transports (WebTransport with the
//! standalone certificate's pinned hash, WebSocket, SSE), each shown in the
//! status line and counted by the gateway; and the "Live orders" panel (a
//! live collection) through a socket reset. The browser side is
//! `tests/js/dashboard.mjs`, `tests/js/transport-browser.mjs` and
//! `tests/js/live-orders-browser.mjs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use herald_tests::gateway::GatewayProc;

/// `tests/js`, after checking that playwright-core and Chromium are there.
fn js_dir() -> PathBuf {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/js first (scripts/test.sh does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is required: apt-get install -y chromium (scripts/test.sh does)"
    );
    js
}

/// Runs `node tests/js/<script> <args>`; panics with its output and the
/// gateway's log unless it succeeds. Returns its stdout.
fn run_node(gw: &GatewayProc, script: &str, args: &[String]) -> String {
    let out = Command::new("node")
        .arg(js_dir().join(script))
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "browser check failed:\n{stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.proc.log_text()
    );
    stdout
}

/// A standalone gateway with the demo feed; its QUIC listener (WebTransport)
/// is on by default, on the client listener's port number.
fn demo_gateway() -> GatewayProc {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4"]);
    assert_eq!(
        gw.quic_addr().port(),
        gw.client.port(),
        "WebTransport listens on the client port number"
    );
    gw
}

/// The result lines of `transport-browser.mjs`, one per spec.
fn transport_results(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Runs `transport-browser.mjs` for `specs` against a standalone demo
/// gateway and checks each result line.
fn check_transports(specs: &[&str]) -> Vec<serde_json::Value> {
    check_transports_on(&demo_gateway(), specs)
}

/// Runs `transport-browser.mjs` for `specs` against `gw` and checks each
/// result line.
fn check_transports_on(gw: &GatewayProc, specs: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec![format!("http://{}/", gw.client), gw.admin_url()];
    args.extend(specs.iter().map(|s| s.to_string()));
    let stdout = run_node(gw, "transport-browser.mjs", &args);
    let results = transport_results(&stdout);
    assert_eq!(results.len(), specs.len(), "{stdout}");
    for (spec, r) in specs.iter().zip(&results) {
        let expected = spec.rsplit('=').next().unwrap();
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["transport"], expected, "{r}");
        assert!(r["connections"].as_f64().unwrap() >= 1.0, "{r}");
    }
    results
}

#[test]
fn the_dashboard_page_shows_a_snapshot_then_live_updates() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4"]);
    let stdout = run_node(&gw, "dashboard.mjs", &[format!("http://{}/", gw.client)]);
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
}

/// `?transport=webtransport` over the standalone certificate's hash, with no
/// browser flags for certificates; the gateway counts a WebTransport
/// connection while the page is open, so a silent WebSocket fallback fails.
#[test]
fn chromium_uses_webtransport_with_the_pinned_certificate_hash() {
    let r = check_transports(&["webtransport"]);
    assert_eq!(r[0]["label"], "Connected · WebTransport", "{}", r[0]);
}

/// The same page on each forced transport shows it and updates live.
#[test]
fn the_dashboard_shows_and_uses_each_forced_transport() {
    let r = check_transports(&["websocket", "sse", "webtransport"]);
    assert_eq!(r[0]["label"], "Connected · WebSocket");
    assert_eq!(r[1]["label"], "Connected · SSE");
    assert_eq!(r[2]["label"], "Connected · WebTransport");
}

/// Without `?transport=`, on `http://127.0.0.1` (a secure context) Chromium
/// picks WebTransport.
#[test]
fn chromium_picks_webtransport_by_default_on_localhost() {
    check_transports(&["auto=webtransport"]);
}

/// A gateway without its QUIC listener: WebTransport fails, herald.js falls
/// back to WebSocket for the page load, and the status says so.
#[test]
fn chromium_falls_back_to_websocket_when_webtransport_fails() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4", "--quic-listen", "off"]);
    let r = check_transports_on(&gw, &["fallback=websocket"]);
    assert_eq!(r[0]["label"], "Connected · WebSocket", "{}", r[0]);
    assert!(
        r[0]["fallback"]
            .as_str()
            .is_some_and(|f| f.contains("WebTransport")),
        "{}",
        r[0]
    );
}

/// Runs `live-orders-browser.mjs` against `gw` in `mode` with reconnects
/// refused for `hold_ms`; returns its result line.
fn live_orders(gw: &GatewayProc, mode: &str, hold_ms: u32) -> serde_json::Value {
    let out = run_node(
        gw,
        "live-orders-browser.mjs",
        &[
            format!("http://{}/", gw.client),
            mode.into(),
            hold_ms.to_string(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    assert_ne!(r["moved"]["from"], r["moved"]["to"], "{r}");
    assert!(
        r["refused"].as_u64().unwrap() >= 1,
        "reconnects were refused: {r}"
    );
    assert_eq!(r["compared"].as_array().unwrap().len(), 5, "{r}");
    r
}

/// The "Live orders" panel (room `orders:live`, a live collection): rows in
/// the set's order, a status changing in place with the `changed`
/// highlight, rows entering and leaving; after the page's socket is closed
/// and its reconnects refused for 1.5 s, its rows equal a fresh client's
/// snapshot at every offset compared.
#[test]
fn the_live_orders_panel_follows_the_set_and_catches_up_after_a_reset() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4"]);
    live_orders(&gw, "any", 1500);
}

/// With a history too short to recover the outage, the panel takes a new
/// snapshot, and again ends equal to a fresh client's.
#[test]
fn the_live_orders_panel_takes_a_new_snapshot_when_history_runs_out() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4", "--history-size", "4"]);
    let r = live_orders(&gw, "reset", 3000);
    assert!(
        r["after"]["resets"].as_u64().unwrap() > r["before"]["resets"].as_u64().unwrap(),
        "{r}"
    );
}

/// A short outage within the history is recovered with `since`: the
/// missed changes, no new snapshot.
#[test]
fn the_live_orders_panel_recovers_a_short_outage_with_since() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4"]);
    let r = live_orders(&gw, "recover", 1000);
    assert_eq!(r["after"]["resets"], r["before"]["resets"], "{r}");
}
