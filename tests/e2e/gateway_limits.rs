//! Bad input, limits, slow consumers, heartbeats and draining, against a
//! real `herald-gateway` process. Each bad input gets its documented code,
//! and the gateway keeps serving everyone else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_protocol::RoomName;
use herald_protocol::native::{ClientFrame, CloseCode, ErrorCode, ServerFrame};
use herald_tests::gateway::GatewayProc;
use herald_tests::ws::Client;
use serde_json::json;

fn subscribe(name: &str, id: u64) -> ClientFrame {
    ClientFrame::Subscribe {
        room: RoomName::new(name).unwrap(),
        since: None,
        leave_others: false,
        token: None,
        id: Some(id),
    }
}

async fn expect_error(c: &mut Client, code: ErrorCode) -> String {
    match c.next_frame().await {
        ServerFrame::Error {
            code: got, reason, ..
        } => {
            assert_eq!(got, code, "{reason}");
            reason
        }
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

/// A second client in `room` that must keep receiving while others misbehave.
async fn witness(gw: &GatewayProc, room: &str) -> Client {
    let (mut w, _) = Client::connect(&gw.ws_url()).await;
    w.send(&subscribe(room, 1)).await;
    assert!(matches!(
        w.next_frame().await,
        ServerFrame::Subscribed { .. }
    ));
    w
}

async fn witness_still_served(gw: &GatewayProc, w: &mut Client, room: &str) {
    let reply = gw.publish(room, "e", json!("still here")).await;
    let offset = reply["offset"].as_u64().unwrap();
    let got = w.messages(1).await;
    assert_eq!((got[0].0.as_str(), got[0].1), (room, offset));
}

#[tokio::test]
async fn each_bad_frame_gets_its_error_code_and_the_connection_stays_usable() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-rooms-per-connection",
        "2",
    ]);
    let mut w = witness(&gw, "w").await;
    let (mut c, _) = Client::connect(&gw.ws_url()).await;

    c.send_text("{not json").await;
    expect_error(&mut c, ErrorCode::BadFrame).await;
    c.send_binary(vec![0xc1, 0xff, 0x00, 0x13]).await;
    expect_error(&mut c, ErrorCode::BadFrame).await;
    c.send_text(r#"{"op":"subscribe"}"#).await;
    assert!(
        expect_error(&mut c, ErrorCode::BadFrame)
            .await
            .contains("room")
    );
    c.send_text(r#"{"op":"teleport","id":7}"#).await;
    expect_error(&mut c, ErrorCode::UnknownOp).await;
    c.send_text(r#"{"op":"subscribe","room":"has space"}"#)
        .await;
    expect_error(&mut c, ErrorCode::InvalidRoom).await;
    c.send_text(&format!(
        r#"{{"op":"subscribe","room":"{}"}}"#,
        "x".repeat(201)
    ))
    .await;
    expect_error(&mut c, ErrorCode::InvalidRoom).await;
    c.send(&ClientFrame::Unsubscribe {
        room: RoomName::new("never").unwrap(),
        id: None,
    })
    .await;
    expect_error(&mut c, ErrorCode::NotSubscribed).await;

    for (i, r) in ["r1", "r2"].iter().enumerate() {
        c.send(&subscribe(r, i as u64)).await;
        assert!(matches!(
            c.next_frame().await,
            ServerFrame::Subscribed { .. }
        ));
    }
    c.send(&subscribe("r3", 3)).await;
    expect_error(&mut c, ErrorCode::TooManyRooms).await;

    c.send(&ClientFrame::Ping { id: Some(99) }).await;
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Pong { id: Some(99) }
    ));
    witness_still_served(&gw, &mut w, "w").await;
    let errors = gw
        .metric("herald_gateway_client_errors_total", "code=\"bad_frame\"")
        .await;
    assert_eq!(errors, Some(3.0));
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009_and_others_are_unaffected() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-frame-bytes",
        "1024",
    ]);
    let mut w = witness(&gw, "w").await;
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send_text(&format!(r#"{{"op":"ping","pad":"{}"}}"#, "x".repeat(4000)))
        .await;
    let (_, code) = c.until_closed().await;
    assert_eq!(code, Some(1009));
    witness_still_served(&gw, &mut w, "w").await;
}

#[tokio::test]
async fn past_the_connection_limit_the_gateway_refuses_with_4004() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0", "--max-connections", "2"]);
    let (_a, _) = Client::connect(&gw.ws_url()).await;
    let (_b, _) = Client::connect(&gw.ws_url()).await;
    let (mut third, _) = tokio_tungstenite::connect_async(gw.ws_url())
        .await
        .map(|(ws, r)| (Client { ws }, r))
        .unwrap();
    let (frames, code) = third.until_closed().await;
    assert_eq!(code, Some(4004));
    assert!(matches!(
        frames.last(),
        Some(ServerFrame::Disconnect {
            code: CloseCode::ConnectionLimit,
            reconnect: true,
            ..
        })
    ));
}

/// A WebSocket to `url` with `X-Forwarded-For: xff` when given; the close
/// code if the gateway refused it, else `None` (the connection is kept in
/// `held`).
async fn try_open(url: &str, xff: Option<&str>, held: &mut Vec<Client>) -> Option<u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut req = url.into_client_request().unwrap();
    if let Some(x) = xff {
        req.headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(x).unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut c = Client { ws };
    match c.next_frame().await {
        ServerFrame::Welcome { .. } => {
            held.push(c);
            None
        }
        _ => c.until_closed().await.1,
    }
}

/// `--max-connections-per-ip`: a third connection from one address is
/// refused with 4004 on every transport while other addresses still get
/// in, a freed place is reused, and `X-Forwarded-For` counts only from a
/// `--trusted-proxies` peer.
#[tokio::test]
async fn past_the_per_address_limit_connections_are_refused_and_others_still_get_in() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-connections-per-ip",
        "2",
    ]);
    let url = gw.ws_url();
    let mut held = Vec::new();
    assert_eq!(try_open(&url, None, &mut held).await, None);
    // An untrusted peer's X-Forwarded-For is ignored: still 127.0.0.1.
    assert_eq!(try_open(&url, Some("1.1.1.1"), &mut held).await, None);
    assert_eq!(try_open(&url, Some("2.2.2.2"), &mut held).await, Some(4004));
    let polling = reqwest::get(format!(
        "http://{}/socket.io/?EIO=4&transport=polling",
        gw.client
    ))
    .await
    .unwrap();
    assert_eq!(
        polling.status(),
        503,
        "a Socket.IO handshake from the full address"
    );
    drop(held.pop());
    let mut reused = false;
    for _ in 0..50 {
        if try_open(&url, None, &mut held).await.is_none() {
            reused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reused, "the freed place is taken again");
    assert!(
        gw.metric("herald_gateway_ip_limit_refusals_total", "")
            .await
            .unwrap_or(0.0)
            >= 2.0
    );

    let behind = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-connections-per-ip",
        "2",
        "--trusted-proxies",
        "127.0.0.0/8",
    ]);
    let url = behind.ws_url();
    let mut held = Vec::new();
    for _ in 0..2 {
        assert_eq!(try_open(&url, Some("198.51.100.7"), &mut held).await, None);
    }
    assert_eq!(
        try_open(&url, Some("198.51.100.7, 127.0.0.2"), &mut held).await,
        Some(4004),
        "the last untrusted hop is the client"
    );
    assert_eq!(try_open(&url, Some("203.0.113.9"), &mut held).await, None);
}

/// Slowloris: 2,000 TCP connections that send half a request line and
/// never finish their headers do not stop a real client from connecting
/// and getting its messages, and the gateway drops them at its 10 s
/// header timeout.
#[tokio::test]
async fn two_thousand_unfinished_requests_do_not_stop_a_real_client() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut s = tokio::net::TcpStream::connect(gw.client).await.unwrap();
        s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    let mut w = witness(&gw, "dashboard:slow").await;
    witness_still_served(&gw, &mut w, "dashboard:slow").await;
    // The header timeout closes them (EOF or reset), well within 20 s.
    let mut first = idle.swap_remove(0);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(20), first.read(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "an unfinished request is dropped at the header timeout"
    );
}

#[tokio::test]
async fn a_silent_peer_is_closed_after_the_heartbeat_timeout() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--heartbeat-interval-ms",
        "200",
        "--heartbeat-timeout-ms",
        "300",
    ]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    // Not reading means tungstenite never answers the server's pings.
    let mut closed_by_server = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        closed_by_server = gw
            .metric(
                "herald_gateway_disconnects_total",
                "reason=\"heartbeat_timeout\"",
            )
            .await;
        // The series exists at 0 from the start.
        if closed_by_server >= Some(1.0) {
            break;
        }
    }
    assert_eq!(
        closed_by_server,
        Some(1.0),
        "the server closed the silent peer for its heartbeat"
    );
    // Reading now answers the buffered pings into a closed socket, so the
    // client may see either the 4003 close or a reset.
    let (_, code) = c.until_closed().await;
    assert!(matches!(code, Some(4003) | None), "{code:?}");
    // An active client on the same settings stays connected: reading answers pings.
    let (mut live, _) = Client::connect(&gw.ws_url()).await;
    for i in 0..8 {
        live.send(&ClientFrame::Ping { id: Some(i) }).await;
        assert!(matches!(live.next_frame().await, ServerFrame::Pong { .. }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        gw.metric(
            "herald_gateway_disconnects_total",
            "reason=\"heartbeat_timeout\""
        )
        .await,
        Some(1.0),
        "only the silent one"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_as_slow_while_memory_stays_bounded() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--outbox-max-bytes",
        "2097152",
        "--history-size",
        "10",
    ]);
    let mut reader = witness(&gw, "firehose").await;
    let (mut stalled, _) = Client::connect(&gw.ws_url()).await;
    stalled.send(&subscribe("firehose", 1)).await;
    let rss_before = gw
        .metric("process_resident_memory_bytes", "")
        .await
        .unwrap();

    // 1,500 × 32 KB = 48 MB: far more than socket buffers plus the outbox hold.
    let blob = "z".repeat(32 * 1024);
    let http = reqwest::Client::new();
    let url = format!("{}/api/publish/batch", gw.admin_url());
    let reading = tokio::spawn(async move {
        let mut last = 0;
        for m in reader.messages(1500).await {
            assert_eq!(
                m.1,
                last + 1,
                "the reading client gets every message in order"
            );
            last = m.1;
        }
        last
    });
    for batch in 0..60 {
        let messages: Vec<_> = (0..25).map(|i| json!({"room": "firehose", "event": "e", "data": {"i": batch * 25 + i, "blob": blob}})).collect();
        let resp = http
            .post(&url)
            .json(&json!({ "messages": messages }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    assert_eq!(reading.await.unwrap(), 1500);

    let slow = gw
        .metric("herald_gateway_slow_consumer_disconnects_total", "")
        .await
        .unwrap();
    assert_eq!(slow, 1.0, "exactly the stalled client was dropped");
    assert_eq!(
        gw.metric(
            "herald_gateway_disconnects_total",
            "reason=\"slow_consumer\""
        )
        .await,
        Some(1.0)
    );
    let rss_after = gw
        .metric("process_resident_memory_bytes", "")
        .await
        .unwrap();
    let growth_mb = (rss_after - rss_before) / 1e6;
    assert!(
        growth_mb < 40.0,
        "gateway RSS grew {growth_mb:.1} MB while 48 MB went to a stalled client"
    );

    // The stalled client, when it finally reads, finds the slow-consumer close after what was buffered.
    let (frames, code) = stalled.until_closed().await;
    let told = frames.iter().any(|f| {
        matches!(
            f,
            ServerFrame::Disconnect {
                code: CloseCode::SlowConsumer,
                ..
            }
        )
    });
    assert!(
        told || code == Some(4002) || code.is_none(),
        "close code {code:?}"
    );
}

#[tokio::test]
async fn sigterm_tells_clients_to_reconnect_and_exits_within_the_grace_period() {
    let mut gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--shutdown-grace-ms",
        "3000",
    ]);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&gw.ws_url()).await.0);
    }
    gw.proc.signal("TERM");
    for c in &mut clients {
        let (frames, code) = c.until_closed().await;
        assert_eq!(code, Some(4001));
        assert!(
            matches!(
                frames.last(),
                Some(ServerFrame::Disconnect {
                    code: CloseCode::Shutdown,
                    reconnect: true,
                    ..
                })
            ),
            "{frames:?}"
        );
    }
    let exit = gw.proc.wait_exit(Duration::from_secs(6));
    assert_eq!(exit, Some(0), "exit status; log:\n{}", gw.proc.log_text());
    // New connections are refused once draining started.
    assert!(tokio_tungstenite::connect_async(gw.ws_url()).await.is_err());
}

/// A SIGTERM sent the moment the gateway prints its banner drains it
/// (exit 0) instead of killing it: the handler is installed before the
/// ports open. Bash reads the banner and signals within microseconds,
/// far faster than a `kill` process could; with the handler installed
/// after the banner, about one start in eight died of the signal on an
/// idle machine, and most on a loaded one.
#[test]
fn a_sigterm_right_after_the_banner_drains_instead_of_killing() {
    const STARTS: usize = 30;
    let script = r#"
        for i in $(seq 1 "$2"); do
            coproc G { exec "$1" --standalone --demo-rate 0 --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>/dev/null; }
            pid=$G_PID
            read -r banner <&"${G[0]}"
            kill -TERM "$pid"
            wait "$pid"
            echo "exit $?"
        done
    "#;
    let out = std::process::Command::new("bash")
        .args(["-c", script, "race"])
        .arg(herald_tests::process::bin("herald-gateway"))
        .arg(STARTS.to_string())
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    let exits: Vec<&str> = text.lines().collect();
    assert_eq!(exits.len(), STARTS, "{text}");
    let killed = exits.iter().filter(|l| **l != "exit 0").count();
    assert_eq!(killed, 0, "starts that did not drain:\n{text}");
}

#[tokio::test]
async fn the_api_checks_its_key_and_names_what_is_wrong_with_a_body() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--api-key",
        "s3cret-0123456789abcdef",
    ]);
    let http = reqwest::Client::new();
    let url = format!("{}/api/publish", gw.admin_url());
    let body = json!({"room": "r", "event": "e", "data": 1});

    let no_key = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    assert!(no_key.text().await.unwrap().contains("API key"));
    let wrong = http
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http
        .post(&url)
        .bearer_auth("s3cret-0123456789abcdef")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<serde_json::Value>().await.unwrap()["offset"], 1);

    for (raw, needle) in [
        ("this is not json", "not valid JSON"),
        (r#"{"room":"r"}"#, "event"),
        (r#"{"room":"bad room","event":"e"}"#, "invalid room"),
        (r#"{"room":"r","event":"e","extra":1}"#, "extra"),
        ("", "empty"),
    ] {
        let resp = http
            .post(&url)
            .bearer_auth("s3cret-0123456789abcdef")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{raw}");
        let err: serde_json::Value = resp.json().await.unwrap();
        let msg = err["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{raw:?} -> {msg}");
    }
    let batch = http
        .post(format!("{}/api/publish/batch", gw.admin_url()))
        .bearer_auth("s3cret-0123456789abcdef")
        .json(
            &json!({"messages": [{"room": "r", "event": "e"}, {"room": "no good", "event": "e"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);
    assert!(batch.text().await.unwrap().contains("messages[1]"));
}

#[tokio::test]
async fn past_the_room_limit_a_publish_to_a_new_room_is_refused_with_409() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0", "--max-rooms", "2"]);
    gw.publish("room:a", "e", json!(1)).await;
    gw.publish("room:b", "e", json!(1)).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/publish", gw.admin_url()))
        .json(&json!({ "room": "room:c", "event": "e", "data": 1 }))
        .send()
        .await
        .expect("POST /api/publish");
    assert_eq!(resp.status(), 409);
    let body = resp.text().await.unwrap();
    assert!(body.contains("room limit reached"), "{body}");
    // Rooms that hold history go on.
    assert_eq!(gw.publish("room:a", "e", json!(2)).await["offset"], 2);
}

#[test]
fn an_invalid_configuration_names_the_problem_and_exits_with_2() {
    let gw = herald_tests::process::bin("herald-gateway");
    let dir = std::env::temp_dir().join(format!("herald-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_toml = dir.join("bad.toml");
    std::fs::write(&bad_toml, "standalone = true\nmax_conections = 5\n").unwrap();
    let wrong_type = dir.join("wrong.toml");
    std::fs::write(
        &wrong_type,
        "standalone = true\nmax_connections = \"many\"\n",
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "--redis-url"),
        (
            vec![
                "--standalone".into(),
                "--max-frame-bytes".into(),
                "1".into(),
            ],
            "--max-frame-bytes",
        ),
        (
            vec!["--standalone".into(), "--listen".into(), "nowhere".into()],
            "--listen",
        ),
        (
            vec!["--config".into(), bad_toml.display().to_string()],
            "max_conections",
        ),
        (
            vec!["--config".into(), wrong_type.display().to_string()],
            "max_connections",
        ),
        (
            vec!["--config".into(), "/nonexistent/herald.toml".into()],
            "cannot read config file",
        ),
        // An open admin API off loopback would let anyone publish.
        (
            vec![
                "--standalone".into(),
                "--admin-listen".into(),
                "0.0.0.0:0".into(),
            ],
            "--api-key",
        ),
        (
            vec!["--standalone".into(), "--api-key".into(), "short".into()],
            "--api-key",
        ),
        (
            vec![
                "--standalone".into(),
                "--api-scoped-key".into(),
                "publish+admin:0123456789abcdef".into(),
            ],
            "--api-scoped-key",
        ),
    ];
    for (args, needle) in cases {
        let out = std::process::Command::new(&gw)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in {stderr}"
        );
    }
}

#[tokio::test]
async fn each_api_key_scope_is_allowed_its_routes_and_refused_the_others() {
    const PUBLISHER: &str = "publisher-0123456789abcdef";
    const READER: &str = "reader-0123456789abcdef";
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--api-scoped-key",
        &format!("publish+emit:{PUBLISHER}"),
        "--api-scoped-key",
        &format!("read+disconnect:{READER}"),
        "--metrics-require-key",
    ]);
    let http = reqwest::Client::new();
    let admin = gw.admin_url();
    let call = |method: reqwest::Method, path: &str, key: Option<&str>| {
        let mut req = http.request(method, format!("{admin}{path}"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req
    };
    let publish = json!({"room": "r", "event": "e", "data": 1});
    let disconnect = json!({"room": "r"});
    let emit = json!({"room": "r", "event": "e", "data": 1, "timeout_ms": 100});
    for (method, path, body, publisher, reader) in [
        (
            reqwest::Method::POST,
            "/api/publish",
            Some(&publish),
            200,
            403,
        ),
        (reqwest::Method::POST, "/api/emit", Some(&emit), 200, 403),
        (
            reqwest::Method::POST,
            "/api/disconnect",
            Some(&disconnect),
            403,
            200,
        ),
        (reqwest::Method::GET, "/api/rooms/r", None, 403, 200),
        (reqwest::Method::GET, "/api/nodes", None, 403, 200),
        (reqwest::Method::GET, "/metrics", None, 403, 200),
    ] {
        for (key, want) in [
            (Some(PUBLISHER), publisher),
            (Some(READER), reader),
            (None, 401),
        ] {
            let mut req = call(method.clone(), path, key);
            if let Some(b) = body {
                req = req.json(b);
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert_eq!(status, want, "{method} {path} with {key:?}");
        }
    }
    // Health stays open for probes.
    assert_eq!(
        http.get(format!("{admin}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_flooding_client_is_closed_and_its_neighbour_keeps_every_message_in_order() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-client-frames-per-sec",
        "20",
        "--client-frames-burst",
        "20",
    ]);
    let (mut calm, _) = Client::connect(&gw.ws_url()).await;
    calm.send(&subscribe("flood:a", 1)).await;
    assert!(matches!(
        calm.next_frame().await,
        ServerFrame::Subscribed { .. }
    ));

    // Native: far past the burst, at once.
    let (mut flooder, _) = Client::connect(&gw.ws_url()).await;
    for i in 0..500 {
        flooder.send(&ClientFrame::Ping { id: Some(i) }).await;
    }
    let (frames, close) = flooder.until_closed().await;
    assert_eq!(close, Some(4010), "{:?}", frames.last());
    assert!(frames.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    )));
    let pongs = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Pong { .. }))
        .count();
    assert!(pongs <= 21, "{pongs} pings were served past a burst of 20");

    // Socket.IO: the same budget per session, then `herald:error` 4010.
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", gw.client);
    let (mut sio, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    sio.send(Message::text("40")).await.unwrap();
    for _ in 0..500 {
        if sio.send(Message::text("42[\"noise\"]")).await.is_err() {
            break;
        }
    }
    let mut notice = None;
    let mut sio_close = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), sio.next()).await {
        match msg {
            Ok(Message::Text(t)) if t.contains("herald:error") => notice = Some(t.to_string()),
            Ok(Message::Close(c)) => {
                sio_close = c.map(|c| u16::from(c.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        notice.as_deref().is_some_and(|n| n.contains("4010")),
        "{notice:?}"
    );
    assert_eq!(sio_close, Some(4010));

    // The calm client was never disconnected and gets every message.
    for n in 1..=10 {
        gw.publish("flood:a", "update", json!({ "n": n })).await;
    }
    let got: Vec<u64> = calm.messages(10).await.into_iter().map(|m| m.1).collect();
    assert_eq!(got, (1..=10).collect::<Vec<u64>>());
    assert_eq!(
        gw.metric("herald_gateway_disconnects_total", "reason=\"frame_flood\"")
            .await,
        Some(2.0)
    );
}

#[tokio::test]
async fn a_client_subscribing_in_a_loop_is_closed_and_its_neighbour_keeps_every_message_in_order() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-subscribes-per-sec",
        "5",
        "--subscribes-burst",
        "5",
    ]);
    let (mut calm, _) = Client::connect(&gw.ws_url()).await;
    calm.send(&subscribe("subs:a", 1)).await;
    assert!(matches!(
        calm.next_frame().await,
        ServerFrame::Subscribed { .. }
    ));

    // Native: subscribes in a tight loop, well within the frame budget.
    let (mut looper, _) = Client::connect(&gw.ws_url()).await;
    for i in 0..40 {
        looper.send(&subscribe(&format!("subs:{i}"), i)).await;
    }
    let (frames, close) = looper.until_closed().await;
    assert_eq!(close, Some(4012), "{:?}", frames.last());
    let subscribed = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Subscribed { .. }))
        .count();
    assert!(
        subscribed <= 6,
        "{subscribed} subscribes served past a burst of 5"
    );
    assert!(frames.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    )));
    assert!(matches!(
        frames.last(),
        Some(ServerFrame::Disconnect {
            code: CloseCode::SubscribeFlood,
            reconnect: true,
            ..
        })
    ));

    // Socket.IO: the same budget per session, then `herald:error` 4012.
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", gw.client);
    let (mut sio, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    sio.send(Message::text("40")).await.unwrap();
    for i in 0..40 {
        let packet = format!("42{i}[\"subscribe\",\"s{i}\"]");
        if sio.send(Message::text(packet)).await.is_err() {
            break;
        }
    }
    let mut notice = None;
    let mut refused_ack = None;
    let mut sio_close = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), sio.next()).await {
        match msg {
            Ok(Message::Text(t)) if t.contains("herald:error") => notice = Some(t.to_string()),
            Ok(Message::Text(t)) if t.starts_with("43") && t.contains("\"code\":109") => {
                refused_ack = Some(t.to_string())
            }
            Ok(Message::Close(c)) => {
                sio_close = c.map(|c| u16::from(c.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        notice.as_deref().is_some_and(|n| n.contains("4012")),
        "{notice:?}"
    );
    assert!(
        refused_ack.is_some(),
        "the refused subscribe's ack names error 109"
    );
    assert_eq!(sio_close, Some(4012));

    // The calm client was never disconnected and gets every message.
    for n in 1..=10 {
        gw.publish("subs:a", "update", json!({ "n": n })).await;
    }
    let got: Vec<u64> = calm.messages(10).await.into_iter().map(|m| m.1).collect();
    assert_eq!(got, (1..=10).collect::<Vec<u64>>());
    assert_eq!(
        gw.metric(
            "herald_gateway_disconnects_total",
            "reason=\"subscribe_flood\""
        )
        .await,
        Some(2.0)
    );
    assert_eq!(
        gw.metric("herald_gateway_subscribe_rate_refusals_total", "")
            .await,
        Some(2.0)
    );
}

#[tokio::test]
async fn past_the_pending_connection_cap_a_new_connection_is_closed_and_counted() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-pending-http-connections",
        "5",
    ]);
    // An upgraded connection never counts.
    let (mut early, _) = Client::connect(&gw.ws_url()).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut s = tokio::net::TcpStream::connect(gw.client).await.unwrap();
        s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    let pending = || async {
        gw.metric("herald_gateway_pending_http_connections", "")
            .await
    };
    for _ in 0..100 {
        if pending().await == Some(5.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pending().await, Some(5.0), "the websocket is not pending");

    // One more is closed at once, before it could send anything.
    let mut refused = tokio::net::TcpStream::connect(gw.client).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), refused.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "closed at accept: {read:?}"
    );
    assert_eq!(
        gw.metric("herald_gateway_pending_http_refusals_total", "")
            .await,
        Some(1.0)
    );
    // The upgraded client is still served.
    early.send(&ClientFrame::Ping { id: Some(1) }).await;
    assert!(matches!(early.next_frame().await, ServerFrame::Pong { .. }));

    // Once the idle ones close, a real client gets in.
    drop(idle);
    for _ in 0..100 {
        if pending().await == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pending().await, Some(0.0));
    let mut w = witness(&gw, "pending:a").await;
    witness_still_served(&gw, &mut w, "pending:a").await;
    assert_eq!(
        gw.metric("herald_gateway_pending_http_refusals_total", "")
            .await,
        Some(1.0),
        "nothing else was refused"
    );
}
