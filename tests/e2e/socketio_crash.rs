//! Socket.IO connection state recovery when a connection dies badly, with
//! the real `socket.io-client` 4.8 running the seed's client code
//! (`tests/js/sio-crash.mjs`, `tests/js/sio-reset.mjs`):
//!
//! - a gateway killed with SIGKILL while updates flow: its clients move to
//!   the other gateway through a sticky round-robin proxy, and must be
//!   recovered with every update once, in order (issue 15);
//! - a TCP connection cut without a WebSocket close frame (RST or FIN):
//!   the reconnect must be recovered with every update published meanwhile
//!   (issue 11);
//! - the same crash with every socket in two rooms on different shards:
//!   the stated guarantee (not recovered, no duplicate, each room in order).
//!
//! The crash tests need each socket's rooms in Redis before the crash
//! (the live record, `gateway/src/socketio/recovery/live.rs`). Without
//! it, they failed as below.
//!
//! Seen on 2026-12-01: after the SIGKILL, all 25 clients that moved had
//! `recovered` false and each missed 33 to 86 consecutive updates (from
//! n=251 on; the re-subscribe's snapshot brought the latest one), in four
//! runs over both transport settings; the 25 that stayed got all 500. A FIN
//! without a close frame was counted as `protocol_violation`, and the
//! reconnect lost n=2..5; since the shared transport core maps it to
//! `client_closed`, the FIN tests pass and run by default.

use std::path::PathBuf;
use std::time::Duration;

use herald_tests::gateway::GatewayProc;
use herald_tests::process::Proc;
use herald_tests::redis::RedisServer;
use serde_json::{Value, json};

fn js(script: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        dir.join("node_modules/socket.io-client").exists(),
        "run `npm ci` in tests/js first (scripts/test.sh does)"
    );
    dir.join(script).display().to_string()
}

/// Runs `node tests/js/<script> args...` to its final `{"ok":true,...}`
/// line, within `timeout`, and returns that line.
fn run_node(script: &str, args: &[String], timeout: Duration, gateways: &[&GatewayProc]) -> Value {
    let mut all = vec![js(script)];
    all.extend(args.iter().cloned());
    let mut p = Proc::spawn(std::path::Path::new("node"), &all);
    let deadline = std::time::Instant::now() + timeout;
    let mut last = None;
    while let Ok(line) = p
        .stdout
        .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        if line.contains("\"ok\":true") {
            last = Some(line);
            break;
        }
    }
    let code = p.wait_exit(Duration::from_secs(5));
    let Some(line) = last.filter(|_| code == Some(0)) else {
        let logs: Vec<String> = gateways.iter().map(|g| g.proc.log_text()).collect();
        panic!(
            "{script} failed (exit {code:?}):\n{}\ngateway logs:\n{}",
            p.log_text(),
            logs.join("\n----\n")
        );
    };
    serde_json::from_str(&line).expect("final line is JSON")
}

/// One line per client that did not get exactly n=0..=updates, or that
/// moved without being recovered.
fn bad_clients(out: &Value) -> Vec<String> {
    let moved_unrecovered = |r: &Value| r["moved"] == json!(true) && r["recovered"] != json!(true);
    out["report"]
        .as_array()
        .expect("report")
        .iter()
        .filter(|r| r["exact"] != json!(true) || moved_unrecovered(r))
        .map(|r| {
            format!(
                "client {} moved={} recovered={} missing={} {} duplicates={} \
                 out_of_order={} upstreams={}",
                r["i"],
                r["moved"],
                r["recovered"],
                r["missing"],
                r["missingRange"],
                r["duplicates"],
                r["outOfOrder"],
                r["upstreams"]
            )
        })
        .collect()
}

/// 50 clients over two gateways and one Redis; gateway A is killed after
/// 250 of 500 updates at 50/s.
fn crash(mode: &str) -> Value {
    let redis = RedisServer::start();
    let url = redis.url();
    let args = [
        "--redis-url",
        url.as_str(),
        "--socketio-leave-others",
        if mode == "two-rooms" { "false" } else { "true" },
        "--socketio-recovery",
        "--public-rooms",
        "dashboard:*",
        "--demo-rate",
        "0",
        // Room history larger than any outage here, so that only recovery
        // itself can lose updates.
        "--history-size",
        "1000",
    ];
    let a = GatewayProc::start(&args);
    let b = GatewayProc::start(&args);
    let out = run_node(
        "sio-crash.mjs",
        &[
            format!("http://{}", a.client),
            b.admin_url(),
            mode.to_owned(),
            format!("http://{}", b.client),
            a.proc.pid().to_string(),
            "50".into(),
            "500".into(),
            "50".into(),
        ],
        Duration::from_secs(120),
        &[&b],
    );
    let bad = bad_clients(&out);
    let summary = format!(
        "mode={mode} exact={}/{} moved={} moved_recovered={} moved_missing={} stayed_exact={}",
        out["exact"],
        out["clients"],
        out["moved"],
        out["movedRecovered"],
        out["movedMissing"],
        out["stayedExact"]
    );
    eprintln!("{summary}");
    assert!(
        out["moved"].as_u64().unwrap_or(0) > 0,
        "no client moved off the killed gateway: {summary}"
    );
    if mode == "two-rooms" {
        return out;
    }
    assert!(
        bad.is_empty(),
        "{summary}\nclients without every update exactly once, in order, \
         or moved without recovery:\n{}",
        bad.join("\n")
    );
    assert_eq!(out["movedRecovered"], out["moved"], "{summary}");
    out
}

#[test]
fn a_gateway_crash_loses_no_update_and_moved_clients_are_recovered() {
    crash("default");
}

/// One Socket.IO offset names a position in one room, so a socket in two
/// rooms (on different shards) whose gateway dies cannot be recovered
/// exactly. The guarantee: it is not recovered (`recovered` false, and
/// the client's own re-subscribe brings each room's current state), and
/// what it gets has no duplicate and keeps each room's order; the clients
/// that stayed get every update once.
#[test]
fn a_gateway_crash_with_sockets_in_two_rooms_is_reported_not_recovered() {
    let shards = 64;
    assert_ne!(
        herald_bus::redis::keys::shard_of("dashboard:sales", shards),
        herald_bus::redis::keys::shard_of("dashboard:ops", shards),
        "the two rooms must be on different shards"
    );
    let out = crash("two-rooms");
    let report = out["report"].as_array().expect("report");
    for r in report {
        let line = format!("{r}");
        assert_eq!(r["duplicates"], json!(0), "{line}");
        assert_eq!(r["outOfOrder"], json!(0), "{line}");
        if r["moved"] == json!(true) {
            let last = r["connects"]
                .as_array()
                .and_then(|c| c.last())
                .expect("connects");
            assert_eq!(
                last["recovered"],
                json!(false),
                "a moved socket passed off as recovered: {line}"
            );
        } else {
            assert_eq!(r["exact"], json!(true), "{line}");
        }
    }
}

#[test]
fn a_gateway_crash_loses_no_update_and_moved_clients_are_recovered_websocket_only() {
    crash("websocket");
}

/// The connection is cut under the client (`rst` or `fin`), without a
/// WebSocket close frame.
async fn reset(cut: &str, mode: &str) {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0", "--socketio-recovery"]);
    let out = run_node(
        "sio-reset.mjs",
        &[
            format!("http://{}", gw.client),
            gw.admin_url(),
            cut.to_owned(),
            mode.to_owned(),
        ],
        Duration::from_secs(40),
        &[&gw],
    );
    let metrics = gw.metrics().await;
    let reasons: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("herald_gateway_disconnects_total{"))
        .collect();
    let summary = format!(
        "cut={cut} mode={mode} reason={} recovered={} received={} missing={} \
         connects={}\ngateway disconnects: {reasons:?}",
        out["reason"], out["recovered"], out["received"], out["missing"], out["connects"]
    );
    eprintln!("{summary}");
    assert_eq!(out["recovered"], true, "{summary}");
    assert_eq!(out["received"], json!([0, 1, 2, 3, 4, 5, 6]), "{summary}");
}

/// A reset (RST) is a `client_closed`-like end today: recovery is kept.
/// This guards it while the session code is restructured.
#[tokio::test]
async fn a_tcp_reset_without_a_close_frame_keeps_recovery() {
    reset("rst", "websocket").await;
}

/// A FIN without a close frame is tungstenite's
/// `Protocol(ResetWithoutClosingHandshake)`, which the Socket.IO session
/// counts as `protocol_violation` and marks not recoverable (issue 11).
#[tokio::test]
async fn a_tcp_close_without_a_close_frame_keeps_recovery() {
    reset("fin", "websocket").await;
}

/// The same after the polling-to-WebSocket upgrade (default transports).
#[tokio::test]
async fn a_tcp_close_without_a_close_frame_after_the_upgrade_keeps_recovery() {
    reset("fin", "default").await;
}

/// A draining gateway stores its sessions' Socket.IO recovery records in
/// Redis before it exits, even when Redis is slow to accept writes, so the
/// clients the drain sends elsewhere can recover there. (The unit test
/// `a_drain_waits_for_the_shared_write` pins the tracked write itself.)
#[test]
fn a_draining_gateway_stores_recovery_records_before_it_exits() {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut gw = GatewayProc::start(&[
        "--redis-url",
        url.as_str(),
        "--socketio-recovery",
        "--socketio-leave-others",
        "false",
        "--public-rooms",
        "drain:*",
    ]);
    let all = [
        js("sio-drain.mjs"),
        format!("http://{}", gw.client),
        gw.admin_url(),
    ];
    let _script = Proc::spawn(std::path::Path::new("node"), &all);
    _script.wait_line("\"step\":\"live\"", Duration::from_secs(20));
    let scan = |redis: &RedisServer| {
        herald_tests::redis::cli(redis.port, &["--scan", "--pattern", "*sio:*"])
    };
    // The full records a close writes; live records (`sio:live:<pid>`) are
    // the crash-safe part, there from the join on.
    let records = |redis: &RedisServer| {
        scan(redis)
            .lines()
            .filter(|k| !k.contains(":sio:live:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(records(&redis).trim(), "", "no full record while connected");
    assert!(
        scan(&redis).contains(":sio:live:"),
        "a live record while connected: {:?}",
        scan(&redis)
    );

    // Writes wait 1.5 s: the record's SET is still in flight when the
    // connections have closed.
    herald_tests::redis::cli(redis.port, &["CLIENT", "PAUSE", "1500", "WRITE"]);
    gw.proc.signal("TERM");
    let code = gw.proc.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "gateway log:\n{}", gw.proc.log_text());
    let stored = records(&redis);
    assert!(
        !stored.trim().is_empty(),
        "the drained session's recovery record is in Redis\ngateway log:\n{}",
        gw.proc.log_text()
    );
}
