//! QUIC-specific behaviour of the gateway's QUIC listener: certificates
//! (self-signed with its hash endpoint, a configured one and its reload),
//! MessagePack framing, address validation with Retry, 0-RTT refused,
//! a configuration error, and QUIC and WebSocket clients on two gateways
//! over Redis. What every transport shares is in `transports.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_protocol::native::{ClientFrame, Format, ServerFrame};
use herald_protocol::stream::{self, Kind};
use herald_protocol::{Position, RoomName};
use herald_tests::gateway::GatewayProc;
use herald_tests::quic::{self, Flavor, QuicClient};
use herald_tests::ws::Client as WsClient;
use serde_json::json;
use web_transport_quinn::Session;

fn subscribe(room: &str, since: Option<Position>, id: u64) -> ClientFrame {
    ClientFrame::Subscribe {
        room: RoomName::new(room).unwrap(),
        since,
        leave_others: false,
        token: None,
        id: Some(id),
    }
}

fn sha256(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn standalone_serves_a_short_lived_self_signed_certificate_and_its_hash() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let addr = gw.quic_addr();
    assert_eq!(addr.port(), gw.client.port(), "8080/udp beside 8080/tcp");
    let body: serde_json::Value = reqwest::get(format!("http://{}/wt/certificate-hash", gw.client))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let left = body["expires"].as_u64().unwrap() - now_ms;
    assert!(left < 14 * 24 * 3600 * 1000, "{body}");
    assert_eq!(body["port"].as_u64(), Some(u64::from(addr.port())));
    // A client pinning that hash connects; one pinning another does not.
    let (_c, _) = QuicClient::connect(Flavor::Raw, addr, gw.cert_hash().await).await;
    let ep = quic::endpoint();
    let wrong = ep
        .connect_with(
            quic::quinn_config(quic::raw_tls(vec![vec![0; 32]], false)),
            addr,
            "localhost",
        )
        .unwrap()
        .await;
    assert!(wrong.is_err(), "a certificate of another hash is refused");
    let mut failures = None;
    for _ in 0..50 {
        let text = gw.metrics().await;
        failures = text
            .lines()
            .find(|l| {
                l.starts_with("herald_gateway_quic_handshake_failures_total{")
                    && l.contains("stage=\"handshake\"")
                    && l.contains("transport=\"quic\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        if failures >= Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        failures >= Some(1.0),
        "the refused handshake is counted: {failures:?}"
    );
}

#[tokio::test]
async fn messagepack_frames_are_answered_in_messagepack() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    gw.publish("mp", "e", json!({"n": 1})).await;
    let (mut c, _) = QuicClient::connect(Flavor::Raw, gw.quic_addr(), gw.cert_hash().await).await;
    c.format = Format::MsgPack;
    c.send(&subscribe("mp", None, 1)).await;
    // The client's decoder takes the reply's kind: MessagePack decodes.
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Subscribed { .. }
    ));
    let m = c.next_frame().await;
    assert!(matches!(m, ServerFrame::Message { offset: 1, .. }), "{m:?}");
    // WebTransport with ?format=msgpack starts in MessagePack.
    let mut wt = QuicClient::open(
        Flavor::WebTransport,
        gw.quic_addr(),
        gw.cert_hash().await,
        "?format=msgpack",
    )
    .await;
    let w = wt.next_frame().await;
    assert!(matches!(w, ServerFrame::Welcome { .. }));
    // An unknown kind byte breaks the framing: 4006.
    wt.send_frame(Kind::Json, br#"{"op":"ping"}"#).await;
    assert!(matches!(wt.next_frame().await, ServerFrame::Pong { .. }));
    wt.send_raw(&[9, 0, 0, 0, 0]).await;
    let (_, code) = herald_tests::transport::Client::Quic(Box::new(wt))
        .until_closed()
        .await;
    assert_eq!(code, Some(4006));
}

#[tokio::test]
async fn under_a_retry_threshold_of_zero_clients_are_validated_and_still_connect() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--quic-retry-threshold",
        "0",
    ]);
    let hash = gw.cert_hash().await;
    for flavor in [Flavor::Raw, Flavor::WebTransport] {
        let (mut c, _) = QuicClient::connect(flavor, gw.quic_addr(), hash.clone()).await;
        c.send(&ClientFrame::Ping { id: Some(1) }).await;
        assert!(matches!(c.next_frame().await, ServerFrame::Pong { .. }));
    }
    let retries = gw.metric("herald_gateway_quic_retries_total", "").await;
    assert!(
        retries >= Some(2.0),
        "every Initial got a Retry first: {retries:?}"
    );
}

#[tokio::test]
async fn zero_rtt_is_refused() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let addr = gw.quic_addr();
    let config = quic::quinn_config(quic::raw_tls(vec![gw.cert_hash().await], true));
    let ep = quic::endpoint();
    // A first connection gets a session ticket.
    let conn = ep
        .connect_with(config.clone(), addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let s = Session::raw(conn.clone());
    let (mut send, mut recv) = s.open_bi().await.unwrap();
    let ping = br#"{"op":"ping"}"#;
    let mut frame = herald_protocol::stream::head(Kind::Json, ping.len()).to_vec();
    frame.extend_from_slice(ping);
    send.write_all(&frame).await.unwrap();
    let _ = recv.read_chunk(1024, true).await;
    conn.close(0u32.into(), b"bye");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The second may resume, but early data is never accepted.
    let connecting = ep.connect_with(config, addr, "localhost").unwrap();
    match connecting.into_0rtt() {
        Err(connecting) => {
            connecting.await.expect("a full handshake instead");
        }
        Ok((conn, accepted)) => {
            assert!(!accepted.await, "the gateway accepted 0-RTT data");
            drop(conn);
        }
    }
}

#[test]
fn quic_outside_standalone_without_a_certificate_is_a_config_error() {
    let out = std::process::Command::new(herald_tests::process::bin("herald-gateway"))
        .args([
            "--redis-url",
            "redis://127.0.0.1:1",
            "--quic-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--quic-listen") && err.contains("--tls-cert-file"),
        "{err}"
    );
}

#[tokio::test]
async fn a_configured_certificate_is_presented_and_a_reload_reaches_quic() {
    let dir = tempfile::tempdir().unwrap();
    let ca = herald_tests::tls::TestCa::new("quic test CA");
    let first = ca.leaf("first");
    let (cert, key) = first.write(dir.path(), "server");
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--tls-watch-interval-ms",
        "0",
        "--quic-listen",
        "127.0.0.1:0",
    ]);
    let addr = gw.quic_addr();
    let (_c, _) = QuicClient::connect(Flavor::Raw, addr, sha256(&first.der)).await;
    let status = reqwest::Client::builder()
        .use_preconfigured_tls((*ca.client_config()).clone())
        .build()
        .unwrap()
        .get(format!(
            "https://localhost:{}/wt/certificate-hash",
            gw.client.port()
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404, "no hash for a configured certificate");
    let second = ca.leaf("second");
    second.write(dir.path(), "server");
    gw.proc.signal("HUP");
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ep = quic::endpoint();
        let cfg = quic::quinn_config(quic::raw_tls(vec![sha256(&second.der)], false));
        if ep
            .connect_with(cfg, addr, "localhost")
            .unwrap()
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(
        ok,
        "after SIGHUP new QUIC handshakes get the new certificate"
    );
}

#[tokio::test]
async fn quic_and_websocket_clients_on_two_gateways_get_the_same_ordered_messages() {
    let redis = herald_tests::redis::RedisServer::start();
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let ca = herald_tests::tls::TestCa::new("quic cluster CA");
    let leaf = ca.leaf("gw-a");
    let (cert, key) = leaf.write(dir.path(), "a");
    let common = [
        "--redis-url",
        url.as_str(),
        "--demo-rate",
        "0",
        "--public-rooms",
        "*",
    ];
    let mut a_args = common.to_vec();
    a_args.extend([
        "--node-id",
        "gw-a",
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--quic-listen",
        "127.0.0.1:0",
    ]);
    let a = GatewayProc::start(&a_args);
    let mut b_args = common.to_vec();
    b_args.extend(["--node-id", "gw-b"]);
    let b = GatewayProc::start(&b_args);

    let (mut q, _) = QuicClient::connect(Flavor::Raw, a.quic_addr(), sha256(&leaf.der)).await;
    let (mut w, _) = WsClient::connect(&b.ws_url()).await;
    q.send(&subscribe("cluster:quic", None, 1)).await;
    w.send(&subscribe("cluster:quic", None, 1)).await;
    assert!(matches!(
        q.next_frame().await,
        ServerFrame::Subscribed { .. }
    ));
    assert!(matches!(
        w.next_frame().await,
        ServerFrame::Subscribed { .. }
    ));
    for n in 1..=20 {
        b.publish("cluster:quic", "e", json!({ "n": n })).await;
    }
    let mut qm = Vec::new();
    while qm.len() < 20 {
        if let ServerFrame::Message { offset, data, .. } = q.next_frame().await {
            qm.push((offset, data));
        }
    }
    let wm: Vec<_> = w
        .messages(20)
        .await
        .into_iter()
        .map(|m| (m.1, m.2))
        .collect();
    assert_eq!(qm, wm, "the same messages in the same order");
    assert_eq!(
        qm.iter().map(|m| m.0).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
}

/// A WebTransport CONNECT to the gateway's `/wt` from `origin` (`None`: no
/// `Origin` header, as a non-browser client sends).
async fn webtransport_from(
    gw: &GatewayProc,
    origin: Option<&str>,
) -> Result<Session, web_transport_quinn::ClientError> {
    let client = web_transport_quinn::ClientBuilder::new()
        .with_server_certificate_hashes(vec![gw.cert_hash().await])
        .unwrap();
    let url: url::Url = format!("https://localhost:{}/wt", gw.quic_addr().port())
        .parse()
        .unwrap();
    let mut request = web_transport_quinn::proto::ConnectRequest::new(url);
    if let Some(o) = origin {
        request.headers.insert("origin", o.parse().unwrap());
    }
    client.connect(request).await
}

/// The origin policy of `/ws` holds for WebTransport too: a page from a
/// foreign origin is refused at the CONNECT, a listed one and a
/// non-browser client are served.
#[tokio::test]
async fn a_webtransport_connect_from_a_foreign_origin_is_refused() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--socketio-cors-origins",
        "https://app.example",
    ]);
    assert!(
        webtransport_from(&gw, Some("https://evil.example"))
            .await
            .is_err(),
        "a foreign page's session was accepted"
    );
    assert!(
        webtransport_from(&gw, Some("https://app.example"))
            .await
            .is_ok()
    );
    assert!(webtransport_from(&gw, None).await.is_ok());
    let text = gw.metrics().await;
    let failures = text
        .lines()
        .find(|l| {
            l.starts_with("herald_gateway_quic_handshake_failures_total{")
                && l.contains("stage=\"session\"")
                && l.contains("transport=\"webtransport\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(failures >= Some(1.0), "refusal not counted: {failures:?}");
}

/// A session is one stream: a second stream on the same connection, raw
/// or WebTransport, is reset with 4006 (protocol violation), and the
/// session's own stream goes on being served.
#[tokio::test]
async fn a_second_stream_is_reset_and_the_session_goes_on() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    for flavor in [Flavor::Raw, Flavor::WebTransport] {
        let (mut c, _) = QuicClient::connect(flavor, gw.quic_addr(), gw.cert_hash().await).await;
        let (mut send, mut recv) = c.session.open_bi().await.unwrap();
        // A raw stream reaches the gateway with its first bytes.
        let _ = send
            .write_all(&stream::encode(Kind::Json, b"{\"op\":\"ping\"}"))
            .await;
        let read = tokio::time::timeout(Duration::from_secs(5), recv.read_chunk(1024, true))
            .await
            .expect("the second stream is answered within 5 s");
        assert!(
            matches!(read, Err(web_transport_quinn::ReadError::Reset(4006))),
            "{flavor:?}: {read:?}"
        );
        c.send(&ClientFrame::Ping { id: Some(7) }).await;
        assert!(
            matches!(c.next_frame().await, ServerFrame::Pong { id: Some(7) }),
            "{flavor:?}: the session is still served"
        );
    }
}

/// Under a flood of new connections past `--quic-retry-threshold`
/// handshakes in flight, new addresses must pass a Retry, and every
/// genuine client still gets in: 40 clients opening at once against a
/// threshold of 2.
#[tokio::test]
async fn a_flood_of_handshakes_past_the_threshold_is_answered_with_retry() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--quic-retry-threshold",
        "2",
    ]);
    let hash = gw.cert_hash().await;
    let addr = gw.quic_addr();
    let clients = (0..40).map(|_| {
        let hash = hash.clone();
        async move { QuicClient::connect(Flavor::Raw, addr, hash).await }
    });
    let mut all = futures_util::future::join_all(clients).await;
    for (c, _) in &mut all {
        c.send(&ClientFrame::Ping { id: Some(3) }).await;
        assert!(matches!(
            c.next_frame().await,
            ServerFrame::Pong { id: Some(3) }
        ));
    }
    let retries = gw
        .metric("herald_gateway_quic_retries_total", "")
        .await
        .unwrap_or(0.0);
    assert!(retries >= 1.0, "no Retry under the flood: {retries}");
    assert!(
        retries < 40.0,
        "below the threshold no Retry is needed: {retries}"
    );
}

/// A UDP relay between one client and the gateway that can be cut: after
/// the cut, nothing passes either way, as when a client's network drops.
struct Relay {
    /// The address clients connect to.
    addr: std::net::SocketAddr,
    /// Set to drop every packet from now on.
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start(to: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let front = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(to).await.unwrap();
        let addr = front.local_addr().unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = std::sync::Arc::new(parking_lot::Mutex::new(None));
        let (f, b, c, k) = (front.clone(), back.clone(), client.clone(), cut.clone());
        #[allow(
            clippy::disallowed_methods,
            reason = "the relay lives as long as the test"
        )]
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = f.recv_from(&mut buf).await {
                *c.lock() = Some(from);
                if !k.load(Ordering::Relaxed) {
                    let _ = b.send(&buf[..n]).await;
                }
            }
        });
        let k = cut.clone();
        #[allow(
            clippy::disallowed_methods,
            reason = "the relay lives as long as the test"
        )]
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = back.recv(&mut buf).await {
                let to = *client.lock();
                if let (Some(to), false) = (to, k.load(Ordering::Relaxed)) {
                    let _ = front.send_to(&buf[..n], to).await;
                }
            }
        });
        Self { addr, cut }
    }
}

/// A client whose network drops is closed by the gateway after
/// `--quic-idle-timeout-ms`, and its connection slot is freed.
#[tokio::test]
async fn a_client_whose_network_drops_is_closed_after_the_idle_timeout() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--quic-idle-timeout-ms",
        "1000",
    ]);
    let relay = Relay::start(gw.quic_addr()).await;
    let (mut c, _) = QuicClient::connect(Flavor::Raw, relay.addr, gw.cert_hash().await).await;
    c.send(&ClientFrame::Ping { id: Some(5) }).await;
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Pong { id: Some(5) }
    ));
    assert_eq!(
        gw.metric("herald_gateway_connections", "transport=\"quic\"")
            .await
            .unwrap_or(0.0),
        1.0
    );
    relay.cut.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut left = 1.0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = gw
            .metric("herald_gateway_connections", "transport=\"quic\"")
            .await
            .unwrap_or(0.0);
        if left == 0.0 {
            break;
        }
    }
    assert_eq!(left, 0.0, "the silent connection is still open after 6 s");
    drop(c);
}
