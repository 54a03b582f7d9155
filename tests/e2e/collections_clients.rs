//! Live collections with the real clients against a real standalone
//! gateway and its demo feed (room `orders:live`): `herald.js` in Node over
//! WebSocket and over SSE, and the real `socket.io-client` with plain
//! `socket.on('herald:snapshot' | 'herald:change')` handlers. Each client
//! loses its connection on the way, and its set must end up equal to a
//! fresh snapshot taken by a second client. The scripts are
//! `tests/js/collection-node.mjs` and `tests/js/sio-collection.mjs`; the
//! browser panel is in `dashboard_browser.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herald_tests::gateway::GatewayProc;
use herald_tests::node::{finish, node};
use serde_json::Value;

fn demo_gateway() -> GatewayProc {
    // History for minutes of the feed: a loaded machine slows the reconnect,
    // and the tests are about recovering with `since`, not about running out.
    GatewayProc::start(&["--standalone", "--demo-rate", "8", "--history-size", "5000"])
}

/// Statuses are the demo's, and patches moved some past `pending`.
fn check_statuses(out: &Value) {
    let statuses: Vec<&str> = out["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(!statuses.is_empty(), "{out}");
    assert!(
        statuses
            .iter()
            .all(|s| ["pending", "paid", "shipped"].contains(s)),
        "{out}"
    );
    assert!(
        statuses.iter().any(|s| *s != "pending"),
        "status patches were applied: {out}"
    );
}

fn herald_js(transport: &str) {
    let gw = demo_gateway();
    let out = finish(&gw, node(&gw, "collection-node.mjs", &[transport, "3"]));
    assert_eq!(out["transport"], transport, "{out}");
    assert!(out["connects"].as_u64().unwrap() >= 2, "reconnected: {out}");
    assert!(
        out["compared"].as_u64().unwrap() >= 5,
        "compared at five offsets: {out}"
    );
    assert!(
        out["counts"]["statusPatches"].as_u64().unwrap() > 0,
        "{out}"
    );
    assert_eq!(
        out["counts"]["resets"], 1,
        "the lost connection was recovered with since, not a new snapshot: {out}"
    );
    assert!(
        out["docs"].as_u64().unwrap() <= out["limit"].as_u64().unwrap(),
        "the set stays within its limit: {out}"
    );
    check_statuses(&out);
}

/// herald.js over WebSocket: after a TCP reset and a recovery with
/// `since`, its `docs` equal a fresh client's at every common offset.
#[test]
fn herald_js_over_websocket_holds_what_a_fresh_snapshot_holds() {
    herald_js("websocket");
}

/// The same over SSE, whose dropped stream is reopened with its position.
#[test]
fn herald_js_over_sse_holds_what_a_fresh_snapshot_holds() {
    herald_js("sse");
}

/// Seed-style Socket.IO code rebuilds the set from the two events, goes on
/// after a reconnect (a recovered session or a new snapshot), and ends equal
/// to a fresh client's.
#[test]
fn socketio_plain_handlers_hold_what_a_fresh_snapshot_holds() {
    let gw = demo_gateway();
    let out = finish(&gw, node(&gw, "sio-collection.mjs", &["3"]));
    assert!(
        out["recovered"] == true || out["snapshots"].as_u64().unwrap() >= 2,
        "a recovered session or a new snapshot after the reconnect: {out}"
    );
    assert!(
        out["patches_since_snapshot"].as_u64().unwrap() >= 3,
        "{out}"
    );
    assert!(out["counts"]["remove"].as_u64().unwrap() > 0, "{out}");
    let keys = out["keys"].as_array().unwrap();
    assert_eq!(keys.len() as u64, out["docs"].as_u64().unwrap(), "{out}");
    assert!(
        keys.iter().all(|k| k.as_str().unwrap().starts_with("o-")),
        "{out}"
    );
    check_statuses(&out);
}
