//! TLS on the listeners, against real gateways: native WebSockets over
//! `wss://`, the admin API over `https://`, certificates reloaded on
//! SIGHUP and by the file watch while an existing connection keeps its
//! messages, bad files at reload (old certificate kept, error counted)
//! and at start (exit 2 naming the option), unfinished handshakes, and
//! the real `socket.io-client` over https (polling, then WebSocket).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use herald_protocol::RoomName;
use herald_protocol::native::ClientFrame;
use herald_tests::gateway::GatewayProc;
use herald_tests::node::{finish, node_at};
use herald_tests::process::{Proc, bin};
use herald_tests::tls::{Leaf, TestCa, replace};
use herald_tests::ws::Client;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a reload may take to show (the watch runs every 200 ms here).
const RELOAD_WAIT: Duration = Duration::from_secs(15);

fn subscribe(room: &str) -> ClientFrame {
    ClientFrame::Subscribe {
        room: RoomName::new(room).unwrap(),
        since: None,
        leave_others: false,
        token: None,
        id: Some(1),
    }
}

/// A standalone gateway whose client listener serves `cert`/`key`.
fn tls_gateway(cert: &Path, key: &Path, extra: &[&str]) -> GatewayProc {
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut args = vec![
        "--standalone",
        "--demo-rate",
        "0",
        "--tls-cert-file",
        cert.as_str(),
        "--tls-key-file",
        key.as_str(),
    ];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

/// Subscribes `c` to `room` and waits for the answer.
async fn subscribed<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Client<S>, room: &str) {
    c.send(&subscribe(room)).await;
    loop {
        if let herald_protocol::native::ServerFrame::Subscribed { .. } = c.next_frame().await {
            return;
        }
    }
}

/// Publishes `from..to` as `{"n": i}` and checks `c` gets them all, in order.
async fn publishes_arrive_in_order<S: AsyncRead + AsyncWrite + Unpin>(
    gw: &GatewayProc,
    c: &mut Client<S>,
    room: &str,
    from: u64,
    to: u64,
) {
    for n in from..to {
        gw.publish(room, "tick", json!({ "n": n })).await;
    }
    let got: Vec<u64> = c
        .messages((to - from) as usize)
        .await
        .into_iter()
        .map(|(r, _, data)| {
            assert_eq!(r, room);
            data["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(got, (from..to).collect::<Vec<_>>());
}

/// Waits until a new handshake on `addr` is served `want`.
async fn served_becomes(ca: &TestCa, addr: std::net::SocketAddr, want: &Leaf) {
    let deadline = Instant::now() + RELOAD_WAIT;
    while ca.served_cert(addr).await != want.der {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until a counter on `gw` reaches `want`.
async fn counter_reaches(gw: &GatewayProc, name: &str, labels: &str, want: f64) {
    let deadline = Instant::now() + RELOAD_WAIT;
    loop {
        let v = gw.metric(name, labels).await;
        if v == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels} is {v:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const RELOADS: &str = "herald_gateway_tls_reloads_total";

#[tokio::test]
async fn wss_clients_get_their_messages_and_the_admin_api_answers_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("herald e2e CA");
    let (cert, key) = ca.leaf("client listener").write(dir.path(), "client");
    let admin = ca.leaf("admin listener");
    let (admin_cert, admin_key) = admin.write(dir.path(), "admin");
    let (admin_cert, admin_key) = (
        admin_cert.display().to_string(),
        admin_key.display().to_string(),
    );
    let gw = tls_gateway(
        &cert,
        &key,
        &[
            "--admin-tls-cert-file",
            &admin_cert,
            "--admin-tls-key-file",
            &admin_key,
        ],
    );
    assert!(
        gw.admin_tls,
        "the banner names https for the admin listener"
    );

    let (mut c, _) = ca.wss(gw.client).await;
    subscribed(&mut c, "tls:room").await;
    let https = ca.https_client();
    for n in 0..5 {
        let r = https
            .post(format!("{}/api/publish", gw.admin_url()))
            .json(&json!({ "room": "tls:room", "event": "tick", "data": { "n": n } }))
            .send()
            .await
            .expect("POST /api/publish over https");
        assert!(r.status().is_success(), "{}", r.status());
    }
    let got: Vec<u64> = c
        .messages(5)
        .await
        .into_iter()
        .map(|(_, _, d)| d["n"].as_u64().unwrap())
        .collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);

    // The admin listener presents its own certificate; both start counted at 0.
    assert_eq!(ca.served_cert(gw.admin).await, admin.der);
    let metrics = https
        .get(format!("{}/metrics", gw.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for outcome in ["ok", "error"] {
        let v = herald_tests::gateway::metric_value(
            &metrics,
            RELOADS,
            &format!("outcome=\"{outcome}\""),
        );
        assert_eq!(v, Some(0.0), "{outcome}");
    }
    // The page and plain HTTP: the page is served over https; plain HTTP
    // to a TLS port gets no HTTP answer.
    let page = https
        .get(format!("https://{}/", gw.client))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success());
    assert!(
        reqwest::get(format!("http://{}/", gw.client))
            .await
            .is_err(),
        "plain HTTP is not answered on the TLS listener"
    );
    // A client that does not trust the CA is refused at the handshake.
    let stranger = TestCa::new("another CA");
    assert!(stranger.connect(gw.client).await.is_err());
    // The connection still works after all that.
    let r = https
        .post(format!("{}/api/publish", gw.admin_url()))
        .json(&json!({ "room": "tls:room", "event": "tick", "data": { "n": 5 } }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(c.messages(1).await[0].2["n"], 5);
}

#[tokio::test]
async fn sighup_reloads_for_new_connections_while_an_existing_one_keeps_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("herald e2e CA");
    let first = ca.leaf("first");
    let (cert, key) = first.write(dir.path(), "client");
    // The watch is off: only SIGHUP reloads.
    let gw = tls_gateway(&cert, &key, &["--tls-watch-interval-ms", "0"]);
    let (mut old, served) = ca.wss(gw.client).await;
    assert_eq!(served, first.der);
    subscribed(&mut old, "reload").await;
    publishes_arrive_in_order(&gw, &mut old, "reload", 0, 3).await;

    let second = ca.leaf("second");
    second.write(dir.path(), "client");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ca.served_cert(gw.client).await,
        first.der,
        "no reload without SIGHUP"
    );
    gw.proc.signal("HUP");
    served_becomes(&ca, gw.client, &second).await;
    counter_reaches(&gw, RELOADS, "outcome=\"ok\"", 1.0).await;
    let (mut new, served) = ca.wss(gw.client).await;
    assert_eq!(served, second.der);
    subscribed(&mut new, "reload").await;
    // The old connection was not dropped and keeps every message in order.
    publishes_arrive_in_order(&gw, &mut old, "reload", 3, 20).await;

    // A broken certificate file: the second certificate stays, one error.
    replace(
        &cert,
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    );
    gw.proc.signal("HUP");
    counter_reaches(&gw, RELOADS, "outcome=\"error\"", 1.0).await;
    assert_eq!(ca.served_cert(gw.client).await, second.der);
    assert!(gw.proc.log_text().contains("TLS certificate not reloaded"));
    // A key that belongs to another certificate: refused too.
    second.write(dir.path(), "client");
    replace(&key, ca.leaf("third").key_pem.as_bytes());
    gw.proc.signal("HUP");
    counter_reaches(&gw, RELOADS, "outcome=\"error\"", 2.0).await;
    assert_eq!(ca.served_cert(gw.client).await, second.der);
    // Both connections live on.
    publishes_arrive_in_order(&gw, &mut old, "reload", 20, 25).await;
    // The new one got the room's current state (message 2) on subscribe.
    let got: Vec<u64> = new
        .messages(23)
        .await
        .into_iter()
        .map(|(_, _, d)| d["n"].as_u64().unwrap())
        .collect();
    assert_eq!(got, (2..25).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_file_watch_reloads_replaced_files_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("herald e2e CA");
    let first = ca.leaf("first");
    let (cert, key) = first.write(dir.path(), "client");
    let gw = tls_gateway(&cert, &key, &["--tls-watch-interval-ms", "200"]);
    let (mut old, _) = ca.wss(gw.client).await;
    subscribed(&mut old, "watch").await;
    publishes_arrive_in_order(&gw, &mut old, "watch", 0, 3).await;

    let second = ca.leaf("second");
    second.write(dir.path(), "client");
    served_becomes(&ca, gw.client, &second).await;
    // One or two ok reloads (the watch may see the new certificate with the
    // old key between the two renames: then one error and one ok).
    let ok = gw.metric(RELOADS, "outcome=\"ok\"").await.unwrap();
    assert!(ok >= 1.0, "{ok}");
    publishes_arrive_in_order(&gw, &mut old, "watch", 3, 10).await;

    // A file left broken is counted once, not at every check.
    let errors = gw.metric(RELOADS, "outcome=\"error\"").await.unwrap();
    replace(&key, b"garbage");
    counter_reaches(&gw, RELOADS, "outcome=\"error\"", errors + 1.0).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        gw.metric(RELOADS, "outcome=\"error\"").await,
        Some(errors + 1.0)
    );
    assert_eq!(ca.served_cert(gw.client).await, second.der);
    publishes_arrive_in_order(&gw, &mut old, "watch", 10, 12).await;
}

#[tokio::test]
async fn unfinished_handshakes_do_not_hold_up_others_and_are_dropped() {
    use tokio::io::AsyncReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("herald e2e CA");
    let (cert, key) = ca.leaf("leaf").write(dir.path(), "client");
    let gw = tls_gateway(&cert, &key, &[]);
    // 200 connections that never send a ClientHello.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(gw.client).await.unwrap());
    }
    let started = Instant::now();
    let (mut c, _) = ca.wss(gw.client).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    subscribed(&mut c, "slow").await;
    publishes_arrive_in_order(&gw, &mut c, "slow", 0, 3).await;
    // The handshake timeout (10 s) closes them.
    let mut buf = [0u8; 16];
    for s in &mut idle {
        let read = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    }
    assert!(started.elapsed() >= Duration::from_secs(9));
}

#[test]
fn bad_tls_files_at_start_exit_2_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("herald e2e CA");
    let (cert, key) = ca.leaf("leaf").write(dir.path(), "good");
    let (_, other_key) = ca.leaf("other").write(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let p = |path: &Path| path.display().to_string();
    let missing = dir.path().join("missing.pem");
    for (args, option) in [
        (
            vec!["--tls-cert-file", &p(&missing), "--tls-key-file", &p(&key)],
            "--tls-cert-file",
        ),
        (
            vec!["--tls-cert-file", &p(&garbage), "--tls-key-file", &p(&key)],
            "--tls-cert-file",
        ),
        (
            vec!["--tls-cert-file", &p(&cert), "--tls-key-file", &p(&garbage)],
            "--tls-key-file",
        ),
        (
            vec![
                "--tls-cert-file",
                &p(&cert),
                "--tls-key-file",
                &p(&other_key),
            ],
            "--tls-key-file",
        ),
        (vec!["--tls-cert-file", &p(&cert)], "--tls-key-file"),
        (
            vec!["--admin-tls-cert-file", &p(&cert)],
            "--admin-tls-key-file",
        ),
        (
            vec![
                "--admin-tls-cert-file",
                &p(&missing),
                "--admin-tls-key-file",
                &p(&key),
            ],
            "--admin-tls-cert-file",
        ),
    ] {
        let mut all: Vec<String> = [
            "--standalone",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        all.extend(args.iter().map(|s| s.to_string()));
        let mut proc = Proc::spawn(&bin("herald-gateway"), &all);
        assert_eq!(proc.wait_exit(Duration::from_secs(10)), Some(2), "{args:?}");
        let log = proc.log_text();
        assert!(log.contains(&format!("`{option}`")), "{args:?}: {log}");
    }
}

#[tokio::test]
async fn socketio_client_connects_over_https_by_polling_and_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("herald e2e CA");
    let (cert, key) = ca.leaf("leaf").write(dir.path(), "client");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let ca_file = ca_file.display().to_string();
    let gw = tls_gateway(&cert, &key, &[]);
    // The seed's client waits for the room's current state first.
    gw.publish(
        "dashboard:sales",
        "dashboard:update",
        json!({ "seed": true }),
    )
    .await;
    let url = format!("https://localhost:{}", gw.client.port());
    let env = [("NODE_EXTRA_CA_CERTS", ca_file.as_str())];
    for (mode, transport) in [
        ("polling", "polling"),
        ("websocket", "websocket"),
        ("default", "websocket"),
    ] {
        let p = node_at(&url, &gw, "sio-seed.mjs", &[mode, "5"], &env);
        let out = finish(&gw, p);
        assert_eq!(out["transport"], transport, "{mode}: {out}");
        let live: Vec<u64> = out["live"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["live"].as_u64().unwrap())
            .collect();
        assert_eq!(live, [1, 2, 3, 4, 5], "{mode}");
    }
    // Without the CA, the client refuses the certificate.
    let p = node_at(
        &url,
        &gw,
        "sio-seed.mjs",
        &["polling", "1"],
        &[("TIMEOUT_MS", "3000")],
    );
    let mut p = p;
    assert_ne!(p.wait_exit(Duration::from_secs(15)), Some(0));
}
