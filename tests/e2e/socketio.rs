//! Socket.IO compatibility against a real `herald-gateway` process, driven
//! by the real `socket.io-client` 4.8 in Node (`tests/js/sio-*.mjs`): the
//! seed app's client code unchanged, polling and the upgrade to WebSocket,
//! acks, binary attachments, namespaces, connection state recovery, bad
//! input, and a Socket.IO client beside a native one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_protocol::RoomName;
use herald_protocol::native::ClientFrame;
use herald_tests::gateway::GatewayProc;
use herald_tests::node::{SCRIPT_TIMEOUT, finish, node};
use herald_tests::ws::Client;
use serde_json::{Value, json};

fn gateway(extra: &[&str]) -> GatewayProc {
    let mut args = vec!["--standalone", "--demo-rate", "0"];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

async fn seed_client(mode: &str) {
    let gw = gateway(&[]);
    gw.publish("dashboard:sales", "dashboard:update", json!({ "seed": 1 }))
        .await;
    let out = finish(&gw, node(&gw, "sio-seed.mjs", &[mode, "5"]));
    assert_eq!(out["snapshot"], json!({ "seed": 1 }), "{out}");
    assert_eq!(
        out["live"],
        json!([{ "live": 1 }, { "live": 2 }, { "live": 3 }, { "live": 4 }, { "live": 5 }])
    );
    let want = if mode == "polling" {
        "polling"
    } else {
        "websocket"
    };
    assert_eq!(out["transport"], want);
    let label = format!(
        "transport=\"socketio_{}\"",
        if mode == "polling" { "polling" } else { "ws" }
    );
    assert!(
        gw.metric("herald_gateway_connections_accepted_total", &label)
            .await
            .unwrap_or(0.0)
            >= 1.0,
        "{label} counted"
    );
    // Deliveries count under the transport that wrote them: all on
    // polling for a polling client; an upgrading one's snapshot may go out
    // on polling before the upgrade, its live events on the WebSocket.
    let on = |t: &'static str| {
        let gw = &gw;
        async move {
            gw.metric(
                "herald_gateway_messages_delivered_total",
                &format!("transport=\"{t}\""),
            )
            .await
            .unwrap_or(0.0)
        }
    };
    let (polling, ws) = (on("socketio_polling").await, on("socketio_ws").await);
    assert!(polling + ws >= 6.0, "polling {polling}, ws {ws}");
    if mode == "polling" {
        assert!(polling >= 6.0, "polling {polling}, ws {ws}");
    } else {
        assert!(
            ws >= 1.0,
            "live events after the upgrade: polling {polling}, ws {ws}"
        );
    }
}

#[tokio::test]
async fn the_seed_client_code_gets_the_snapshot_then_live_updates_after_upgrading() {
    seed_client("default").await;
}

#[tokio::test]
async fn a_polling_only_client_gets_the_snapshot_then_live_updates() {
    seed_client("polling").await;
}

#[tokio::test]
async fn a_websocket_only_client_gets_the_snapshot_then_live_updates() {
    seed_client("websocket").await;
}

#[tokio::test]
async fn acks_binary_attachments_and_namespaces() {
    let gw = gateway(&["--allow-client-publish", "--socketio-namespaces", "/admin"]);
    let out = finish(&gw, node(&gw, "sio-features.mjs", &[]));
    assert_eq!(out["pub"]["offset"], 1);
    assert_eq!(out["unknown"]["error"]["code"], 102);
    assert_eq!(out["invalid"], "Invalid namespace");
    assert_eq!(
        out["received"]["/"][0]["file"]["_binary"], "AAEC+v8=",
        "{out}"
    );
}

#[tokio::test]
async fn connection_state_recovery_resends_exactly_the_missed_events() {
    let gw = gateway(&["--socketio-recovery", "--socketio-leave-others", "false"]);
    let out = finish(&gw, node(&gw, "sio-recovery.mjs", &["websocket"]));
    assert_eq!(out["recovered"], true);
    assert_eq!(out["got"].as_array().map(Vec::len), Some(8));
}

/// When the history no longer holds what a socket missed, the reconnect
/// is not passed off as recovered: `recovered` is false and the client's
/// own re-subscribe brings the room's current state.
#[tokio::test]
async fn a_recovery_past_the_history_is_reported_not_recovered() {
    let gw = gateway(&["--history-size", "2"]);
    let out = finish(&gw, node(&gw, "sio-recovery-lost.mjs", &[]));
    assert_eq!(out["recovered"], json!([false, false]), "{out}");
    assert_eq!(out["got"], json!([1, 6]), "{out}");
}

#[tokio::test]
async fn connection_state_recovery_over_polling() {
    let gw = gateway(&["--socketio-recovery", "--socketio-leave-others", "false"]);
    let out = finish(&gw, node(&gw, "sio-recovery.mjs", &["polling"]));
    assert_eq!(out["recovered"], true);
}

#[tokio::test]
async fn bad_input_closes_the_session_and_the_gateway_keeps_serving() {
    let gw = gateway(&["--socketio-max-payload", "10000"]);
    let out = finish(&gw, node(&gw, "sio-bad.mjs", &[]));
    assert_eq!(
        out["badSid"],
        json!({ "code": 1, "message": "Session ID unknown" })
    );
    assert_eq!(out["badVersion"]["code"], 5);
    assert_eq!(out["stillServing"]["room"], "dashboard:sales");
    assert!(
        gw.metric("herald_gateway_client_errors_total", "code=\"bad_frame\"")
            .await
            .unwrap_or(0.0)
            >= 2.0
    );
    assert!(
        gw.metric(
            "herald_gateway_client_errors_total",
            "code=\"poll_overlap\""
        )
        .await
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        gw.metric(
            "herald_gateway_disconnects_total",
            "reason=\"frame_too_large\""
        )
        .await
        .unwrap_or(0.0)
            >= 2.0,
        "oversized POST and oversized WebSocket message"
    );
}

#[tokio::test]
async fn a_socketio_client_and_a_native_client_get_the_same_sequence() {
    let gw = gateway(&[]);
    let room = "mixed:1";
    let sio = node(&gw, "sio-mixed.mjs", &[room, "20"]);
    sio.wait_line("\"step\":\"ready\"", SCRIPT_TIMEOUT);
    let (mut native, _) = Client::connect(&gw.ws_url()).await;
    native
        .send(&ClientFrame::Subscribe {
            room: RoomName::new(room).unwrap(),
            since: None,
            leave_others: false,
            token: None,
            id: Some(1),
        })
        .await;
    // Subscribed (room empty: no snapshot).
    let _ = native.next_frame().await;
    for n in 1..=20 {
        let event = if n % 2 == 0 { "even" } else { "odd" };
        gw.publish(room, event, json!({ "n": n })).await;
    }
    let native_seq: Vec<Value> = native
        .messages(20)
        .await
        .into_iter()
        .map(|(_, _, data)| data)
        .collect();
    let out = finish(&gw, sio);
    let sio_seq: Vec<Value> = out["got"]
        .as_array()
        .expect("got")
        .iter()
        .map(|g| g["data"].clone())
        .collect();
    let events: Vec<&str> = out["got"]
        .as_array()
        .expect("got")
        .iter()
        .filter_map(|g| g["event"].as_str())
        .collect();
    assert_eq!(sio_seq, native_seq);
    assert_eq!(
        native_seq,
        (1..=20).map(|n| json!({ "n": n })).collect::<Vec<_>>()
    );
    assert_eq!(events[0], "odd");
    assert_eq!(events[1], "even");
}

#[tokio::test]
async fn polling_answers_cors_so_pages_on_other_origins_can_connect() {
    let handshake = |gw: &GatewayProc, origin: &str| {
        let url = format!("http://{}/socket.io/?EIO=4&transport=polling", gw.client);
        let origin = origin.to_owned();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("Origin", origin)
                .send()
                .await
                .expect("handshake")
        }
    };
    // Default: any origin, without credentials.
    let gw = gateway(&[]);
    let resp = handshake(&gw, "https://dashboards.example").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert!(
        resp.text().await.unwrap().starts_with("0{"),
        "an Engine.IO open packet"
    );

    // A list: members are reflected with credentials, others get no CORS headers.
    let gw = gateway(&[
        "--socketio-cors-origins",
        "https://a.example,https://b.example",
    ]);
    let ok = handshake(&gw, "https://b.example").await;
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://b.example"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = handshake(&gw, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let preflight = |origin: &'static str| {
        let url = format!("http://{}/socket.io/?EIO=4&transport=polling", gw.client);
        async move {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, url)
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "x-token")
                .send()
                .await
                .expect("preflight")
        }
    };
    let yes = preflight("https://a.example").await;
    assert_eq!(yes.status(), 204);
    assert_eq!(yes.headers()["access-control-allow-headers"], "x-token");
    assert_eq!(preflight("https://evil.example").await.status(), 403);
}

/// `--socketio-path` moves the transport: the seed's client created with
/// `{path: '/rt/'}` works there, over polling with the upgrade, and the
/// default path is no longer served.
#[tokio::test]
async fn the_transport_is_served_at_the_configured_path() {
    let gw = gateway(&["--socketio-path", "/rt/"]);
    gw.publish("dashboard:sales", "dashboard:update", json!({ "seed": 1 }))
        .await;
    let out = finish(&gw, node(&gw, "sio-seed.mjs", &["default", "3", "/rt/"]));
    assert_eq!(out["snapshot"], json!({ "seed": 1 }), "{out}");
    assert_eq!(out["transport"], "websocket", "{out}");
    let old = format!("http://{}/socket.io/?EIO=4&transport=polling", gw.client);
    let status = reqwest::get(old).await.expect("request").status();
    assert_eq!(status, 404, "the default path is not served");
}

/// A configured path that is not a clean `/segment/`, and a connect
/// timeout of 0 or over 10 minutes, are refused at start.
#[test]
fn a_bad_socketio_path_is_refused_with_a_clear_error() {
    for bad in ["rt", "/rt", "//", "/a b/", "/ws/"] {
        let out = std::process::Command::new(herald_tests::process::bin("herald-gateway"))
            .args(["--standalone", "--socketio-path", bad])
            .output()
            .expect("run the gateway");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(err.contains("--socketio-path"), "{bad:?}: {err}");
    }
    for bad in ["0", "600001"] {
        let out = std::process::Command::new(herald_tests::process::bin("herald-gateway"))
            .args(["--standalone", "--socketio-connect-timeout-ms", bad])
            .output()
            .expect("run the gateway");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(
            err.contains("--socketio-connect-timeout-ms"),
            "{bad:?}: {err}"
        );
    }
}

/// A session that answers pings but never sends CONNECT is closed after
/// `--socketio-connect-timeout-ms`, and its connection slot is freed.
#[tokio::test]
async fn a_session_that_never_connects_is_closed_after_the_connect_timeout() {
    let gw = gateway(&[
        "--socketio-connect-timeout-ms",
        "600",
        "--socketio-ping-interval-ms",
        "150",
        "--socketio-ping-timeout-ms",
        "1000",
    ]);
    let http = reqwest::Client::new();
    let url = polling_session(&gw, &http).await;
    assert_eq!(
        gw.metric("herald_gateway_connections", "socketio_polling")
            .await,
        Some(1.0)
    );
    // Answer every ping, never CONNECT.
    let started = std::time::Instant::now();
    let mut pings = 0;
    let closed_after = loop {
        let resp = http.get(&url).send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        if status != 200 || body.split('\u{1e}').any(|p| p == "1") {
            break started.elapsed();
        }
        if body.split('\u{1e}').any(|p| p == "2") {
            pings += 1;
            let pong = http.post(&url).body("3").send().await.unwrap();
            assert_eq!(pong.status(), 200);
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never closed");
    };
    assert!(pings >= 2, "the session was alive, answering {pings} pings");
    assert!(
        closed_after >= Duration::from_millis(550),
        "closed after {closed_after:?}, before the connect timeout"
    );
    let mut gone = None;
    for _ in 0..100 {
        gone = gw
            .metric("herald_gateway_connections", "socketio_polling")
            .await;
        if gone == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gone, Some(0.0), "the slot is freed");
}

/// Opens a polling session; returns its polling URL.
async fn polling_session(gw: &GatewayProc, http: &reqwest::Client) -> String {
    let base = format!("http://{}/socket.io/?EIO=4&transport=polling", gw.client);
    let open = http.get(&base).send().await.unwrap().text().await.unwrap();
    let info: Value = serde_json::from_str(&open[1..]).expect("open packet");
    format!("{base}&sid={}", info["sid"].as_str().expect("sid"))
}

/// A client's close packet over POST answers the pending GET with a noop
/// (`6`, ending that request cleanly), and the session is gone after.
#[tokio::test]
async fn a_polling_close_packet_ends_the_pending_get_with_a_noop() {
    let gw = gateway(&[]);
    let http = reqwest::Client::new();
    let url = polling_session(&gw, &http).await;
    let pending = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move { http.get(url).send().await.unwrap().text().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        http.post(&url).body("1").send().await.unwrap().status(),
        200
    );
    assert_eq!(pending.await.unwrap(), "6");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
}

/// The official suites send the GET and the close POST at once, so the
/// POST can be handled first: the GET that arrives just after the close
/// still gets the noop, and the request after it finds the session gone.
#[tokio::test]
async fn a_get_racing_the_close_packet_still_gets_the_noop() {
    let gw = gateway(&[]);
    let http = reqwest::Client::new();
    let url = polling_session(&gw, &http).await;
    let close = http.post(&url).body("1").send().await.unwrap();
    assert_eq!(close.status(), 200);
    let late = http.get(&url).send().await.unwrap();
    assert_eq!(late.status(), 200, "the GET behind the close is answered");
    assert_eq!(late.text().await.unwrap(), "6");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
}

/// A GET whose client gives up (the HTTP connection closes before the
/// answer) ends the session, as the reference server does.
#[tokio::test]
async fn an_aborted_poll_ends_the_session() {
    // Polls end every second with a ping (well after the 300 ms the aborted
    // poll waits, so it is surely still pending when dropped); a missed
    // pong would close the session only after 20 s, far beyond this test.
    let gw = gateway(&[
        "--socketio-ping-interval-ms",
        "1000",
        "--socketio-ping-timeout-ms",
        "20000",
    ]);
    let http = reqwest::Client::new();
    let url = polling_session(&gw, &http).await;
    // A client of its own, so dropping the request closes its connection.
    let aborted = reqwest::Client::new();
    let gave_up = tokio::time::timeout(Duration::from_millis(300), aborted.get(&url).send()).await;
    assert!(gave_up.is_err(), "the poll was still waiting");
    drop(aborted);
    let mut status = 0;
    for _ in 0..20 {
        status = http.get(&url).send().await.unwrap().status().as_u16();
        if status == 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 400, "the session ended");
}

/// A polling session that never answers its ping is over exactly at
/// `pingInterval + pingTimeout`: a request at that moment is refused, even
/// if the session's task has not woken up to close it yet. (The official
/// suite's "closes the session upon ping timeout" was flaky on this.)
#[tokio::test]
async fn a_poll_right_at_the_ping_deadline_is_refused() {
    let gw = gateway(&[
        "--socketio-ping-interval-ms",
        "300",
        "--socketio-ping-timeout-ms",
        "200",
    ]);
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let url = polling_session(&gw, &http).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
    }
}

/// A session that does send CONNECT is not closed by the connect timeout.
#[tokio::test]
async fn a_connected_session_outlives_the_connect_timeout() {
    let gw = gateway(&[
        "--socketio-connect-timeout-ms",
        "300",
        "--socketio-ping-interval-ms",
        "100",
    ]);
    let http = reqwest::Client::new();
    let url = polling_session(&gw, &http).await;
    assert_eq!(
        http.post(&url).body("40").send().await.unwrap().status(),
        200
    );
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(900) {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(!body.split('\u{1e}').any(|p| p == "1"), "closed: {body}");
        if body.split('\u{1e}').any(|p| p == "2") {
            http.post(&url).body("3").send().await.unwrap();
        }
    }
}

#[tokio::test]
async fn connection_state_recovery_works_after_reconnecting_to_another_gateway() {
    let redis = herald_tests::redis::RedisServer::start();
    let url = redis.url();
    let recovery = [
        "--socketio-recovery",
        "--socketio-leave-others",
        "false",
        "--public-rooms",
        "rec:*",
    ];
    let args = [&["--redis-url", url.as_str()][..], &recovery[..]].concat();
    let first = GatewayProc::start(&args);
    let second = GatewayProc::start(&args);
    let other = format!("http://{}", second.client);
    let out = finish(
        &first,
        node(&first, "sio-recovery.mjs", &["websocket", other.as_str()]),
    );
    assert_eq!(out["recovered"], true, "{out}");
    assert_eq!(out["got"].as_array().map(Vec::len), Some(8), "{out}");
    assert_eq!(
        out["reconnected_to"].as_str(),
        Some(second.client.to_string().as_str()),
        "the reconnect went to the second gateway"
    );
}

/// The answers of `/api/emit` by the `me` field of their ack argument.
fn acks_by_name(reply: &Value) -> std::collections::BTreeMap<String, Value> {
    reply["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| {
            let arg = r["args"][0].clone();
            (arg["me"].as_str().unwrap_or("?").to_owned(), arg)
        })
        .collect()
}

#[tokio::test]
async fn server_emits_with_acks_collect_each_sockets_answer() {
    let gw = gateway(&[]);
    // A native client in the room: its protocol has no acks, so it is
    // answered for at once instead of timing out.
    let (mut native, _) = Client::connect(&gw.ws_url()).await;
    native
        .send(&ClientFrame::Subscribe {
            room: RoomName::new("dashboard:sales").unwrap(),
            since: None,
            leave_others: false,
            token: None,
            id: Some(1),
        })
        .await;
    let _ = native.next_frame().await;
    let out = finish(&gw, node(&gw, "sio-server-acks.mjs", &[]));
    let room = &out["room"];
    assert_eq!(room["sent"], 5, "{out}");
    assert_eq!(room["acked"], 3, "{out}");
    assert_eq!(room["timed_out"], 1, "the silent socket: {out}");
    assert_eq!(
        room["errors"][0]["error"], "this transport has no acknowledgements",
        "{out}"
    );
    let acks = acks_by_name(room);
    assert_eq!(acks["ws"]["got"], json!({ "q": 1 }));
    assert_eq!(acks["polling"]["got"], json!({ "q": 1 }));
    assert_eq!(
        acks["binary"]["file"],
        json!({ "_binary": "AQID" }),
        "a BINARY_ACK's attachment"
    );
    assert_eq!(out["polling_transport"], "polling");
    let session = &out["session"];
    assert_eq!(session["sent"], 1, "{out}");
    assert_eq!(session["timed_out"], 0, "{out}");
    assert_eq!(
        session["responses"][0]["args"],
        json!([{ "me": "ws", "got": { "q": 2 } }])
    );
    assert_eq!(
        out["calls"],
        json!({ "ws": 2, "polling": 1, "binary": 1, "silent": 1 })
    );
}

#[tokio::test]
async fn server_emits_with_acks_reach_sockets_on_every_gateway() {
    let redis = herald_tests::redis::RedisServer::start();
    let url = redis.url();
    let args = ["--redis-url", url.as_str(), "--public-rooms", "*"];
    let first = GatewayProc::start(&args);
    let second = GatewayProc::start(&args);
    let other = format!("http://{}", second.client);
    let out = finish(
        &first,
        node(&first, "sio-server-acks.mjs", &[other.as_str()]),
    );
    let room = &out["room"];
    assert_eq!(room["nodes"], 2, "{out}");
    assert_eq!(room["nodes_answered"], 2, "{out}");
    assert_eq!(room["sent"], 4, "{out}");
    assert_eq!(room["acked"], 3, "{out}");
    assert_eq!(room["timed_out"], 1, "{out}");
    assert_eq!(
        acks_by_name(room)["binary"]["file"],
        json!({ "_binary": "AQID" }),
        "the ack from the socket on the other gateway"
    );
}

#[tokio::test]
async fn emit_with_acks_rejects_bad_bodies() {
    let gw = gateway(&[]);
    let http = reqwest::Client::new();
    for (body, needle) in [
        (
            json!({ "event": "e" }),
            "exactly one of room, user or session",
        ),
        (
            json!({ "room": "a", "session": "b", "event": "e" }),
            "exactly one",
        ),
        (json!({ "room": "has space", "event": "e" }), "invalid room"),
        (json!({ "room": "r", "event": "" }), "event must be"),
        (
            json!({ "room": "r", "event": "e", "timeout_ms": 0 }),
            "timeout_ms",
        ),
        (
            json!({ "room": "r", "event": "e", "timeout_ms": 600000 }),
            "timeout_ms",
        ),
        (
            json!({ "room": "r", "event": "e", "nope": 1 }),
            "unknown field",
        ),
    ] {
        let resp = http
            .post(format!("{}/api/emit", gw.admin_url()))
            .json(&body)
            .send()
            .await
            .expect("emit");
        assert_eq!(resp.status(), 400, "{body}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(needle), "{body} → {text}");
    }
    // Nobody in the room: an immediate, empty answer.
    let resp: Value = http
        .post(format!("{}/api/emit", gw.admin_url()))
        .json(&json!({ "room": "empty:room", "event": "e", "timeout_ms": 60000 }))
        .send()
        .await
        .expect("emit")
        .json()
        .await
        .unwrap();
    assert_eq!(resp["sent"], 0);
    assert_eq!(resp["timed_out"], 0);
}
