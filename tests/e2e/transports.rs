//! One behavioural suite, run over every transport (WebSocket,
//! WebTransport, raw QUIC, and Server-Sent Events where it applies): each
//! behaviour is a function of the [`Transport`], and each test runs it for
//! every transport in turn. SSE sends no frames, so the frame-level bad
//! input matrix is not its (its refusals are HTTP errors, `sse.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_protocol::native::{ClientFrame, CloseCode, ErrorCode, ServerFrame};
use herald_protocol::{Position, RoomName};
use herald_tests::gateway::GatewayProc;
use herald_tests::transport::{Client, Transport};
use serde_json::json;

fn subscribe(room: &str, since: Option<Position>, id: u64) -> ClientFrame {
    ClientFrame::Subscribe {
        room: RoomName::new(room).unwrap(),
        since,
        leave_others: false,
        token: None,
        id: Some(id),
    }
}

fn standalone(extra: &[&str]) -> GatewayProc {
    let mut args = vec!["--standalone", "--demo-rate", "0"];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

async fn publish_n(gw: &GatewayProc, room: &str, from: u64, to: u64) {
    for n in from..=to {
        gw.publish(room, "e", json!({ "n": n })).await;
    }
}

async fn subscribed(c: &mut Client) -> (String, u64, bool) {
    match c.next_frame().await {
        ServerFrame::Subscribed {
            epoch,
            offset,
            recovered,
            ..
        } => (epoch, offset, recovered),
        other => panic!("expected subscribed, got {other:?}"),
    }
}

async fn expect_error(c: &mut Client, code: ErrorCode) {
    match c.next_frame().await {
        ServerFrame::Error { code: got, .. } => assert_eq!(got, code),
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

// --- behaviours -------------------------------------------------------

async fn snapshot_then_ordered_updates(t: Transport, gw: &GatewayProc) {
    let room = format!("snap:{}", t.label());
    publish_n(gw, &room, 1, 3).await;
    let (mut c, welcome) = t.connect(gw).await;
    if let Some(welcome) = welcome {
        let ServerFrame::Welcome {
            max_frame_bytes, ..
        } = welcome
        else {
            unreachable!()
        };
        assert_eq!(max_frame_bytes, 65_536, "{t:?}");
    } else {
        assert_eq!(t, Transport::Sse, "only SSE has no welcome");
    }
    c.send(&subscribe(&room, None, 1)).await;
    let (_, offset, recovered) = subscribed(&mut c).await;
    assert_eq!((offset, recovered), (3, false), "{t:?}");
    let snapshot = c.messages(2).await;
    assert_eq!(
        snapshot.iter().map(|m| m.1).collect::<Vec<_>>(),
        vec![2, 3],
        "{t:?}"
    );
    publish_n(gw, &room, 4, 20).await;
    let live = c.messages(17).await;
    assert_eq!(
        live.iter().map(|m| m.1).collect::<Vec<_>>(),
        (4..=20).collect::<Vec<_>>(),
        "{t:?}: every update in order"
    );
    assert_eq!(live[16].2, json!({ "n": 20 }));
    let label = format!("transport=\"{}\"", t.label());
    // Counted once the gateway's write returned, which may be just after
    // the client read it.
    let mut delivered = None;
    for _ in 0..40 {
        delivered = gw
            .metric("herald_gateway_messages_delivered_total", &label)
            .await;
        if delivered >= Some(19.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        delivered >= Some(19.0),
        "{t:?}: 2 snapshot and 17 live deliveries counted under {label}: {delivered:?}"
    );
}

async fn recovery_with_since(t: Transport, gw: &GatewayProc) {
    let room = format!("recover:{}", t.label());
    publish_n(gw, &room, 1, 2).await;
    let (mut c, _) = t.connect(gw).await;
    c.send(&subscribe(&room, None, 1)).await;
    let (epoch, _, _) = subscribed(&mut c).await;
    // The snapshot: the latest message (--snapshot-depth 1).
    let got = c.messages(1).await;
    let last = got.last().unwrap().1;
    drop(c);
    publish_n(gw, &room, 3, 7).await;
    let (mut c, _) = t.connect(gw).await;
    let since = Position {
        epoch: epoch.clone(),
        offset: last,
    };
    c.send(&subscribe(&room, Some(since), 2)).await;
    let (_, _, recovered) = subscribed(&mut c).await;
    assert!(recovered, "{t:?}");
    let missed = c.messages(5).await;
    assert_eq!(
        missed.iter().map(|m| m.1).collect::<Vec<_>>(),
        vec![3, 4, 5, 6, 7],
        "{t:?}: exactly the missed messages"
    );
    if !t.sends_frames() {
        return;
    }
    // Nothing else: a ping is answered next.
    c.send(&ClientFrame::Ping { id: Some(9) }).await;
    assert!(
        matches!(c.next_frame().await, ServerFrame::Pong { id: Some(9) }),
        "{t:?}"
    );
}

async fn reset_on_epoch_change(t: Transport, gw: &GatewayProc) {
    let room = format!("epoch:{}", t.label());
    publish_n(gw, &room, 1, 4).await;
    let (mut c, _) = t.connect(gw).await;
    let gone = Position {
        epoch: "an-epoch-the-room-no-longer-has".into(),
        offset: 2,
    };
    c.send(&subscribe(&room, Some(gone), 1)).await;
    let (_, offset, recovered) = subscribed(&mut c).await;
    assert_eq!((offset, recovered), (4, false), "{t:?}: a reset");
    let snapshot = c.messages(2).await;
    assert_eq!(
        snapshot.iter().map(|m| m.1).collect::<Vec<_>>(),
        vec![3, 4],
        "{t:?}"
    );
}

async fn bad_input_matrix(t: Transport, gw: &GatewayProc) {
    let w_room = format!("witness:{}", t.label());
    let (mut w, _) = t.connect(gw).await;
    w.send(&subscribe(&w_room, None, 1)).await;
    subscribed(&mut w).await;

    let (mut c, _) = t.connect(gw).await;
    c.send_text("{not json").await;
    expect_error(&mut c, ErrorCode::BadFrame).await;
    c.send_text(r#"{"op":"teleport","id":7}"#).await;
    expect_error(&mut c, ErrorCode::UnknownOp).await;
    c.send_text(r#"{"op":"subscribe","room":"has space","id":3}"#)
        .await;
    expect_error(&mut c, ErrorCode::InvalidRoom).await;
    for (i, r) in ["a", "b"].iter().enumerate() {
        c.send(&subscribe(r, None, i as u64)).await;
        subscribed(&mut c).await;
    }
    c.send(&subscribe("c", None, 5)).await;
    expect_error(&mut c, ErrorCode::TooManyRooms).await;
    c.send(&ClientFrame::Ping { id: Some(1) }).await;
    assert!(
        matches!(c.next_frame().await, ServerFrame::Pong { .. }),
        "{t:?}: still usable"
    );

    let huge = format!(r#"{{"op":"ping","pad":"{}"}}"#, "x".repeat(70_000));
    c.send_text(&huge).await;
    let (frames, code) = c.until_closed().await;
    let told = frames.iter().any(|f| {
        matches!(
            f,
            ServerFrame::Disconnect {
                code: CloseCode::FrameTooLarge,
                ..
            }
        )
    });
    assert!(told || code == Some(1009), "{t:?}: {frames:?} {code:?}");
    assert_eq!(code, Some(1009), "{t:?}");

    let reply = gw.publish(&w_room, "e", json!("still here")).await;
    let got = w.messages(1).await;
    assert_eq!(
        got[0].1,
        reply["offset"].as_u64().unwrap(),
        "{t:?}: others served"
    );
}

async fn slow_consumer(t: Transport, gw: &GatewayProc) {
    let room = format!("firehose:{}", t.label());
    let before = gw
        .metric("herald_gateway_slow_consumer_disconnects_total", "")
        .await
        .unwrap_or(0.0);
    let (mut reader, _) = t.connect(gw).await;
    reader.send(&subscribe(&room, None, 1)).await;
    subscribed(&mut reader).await;
    let (mut stalled, _) = t.connect(gw).await;
    stalled.send(&subscribe(&room, None, 1)).await;
    // 600 × 32 KB = 19 MB: more than the transport's buffers and the
    // 1 MiB outbox hold.
    let blob = "z".repeat(32 * 1024);
    let http = reqwest::Client::new();
    let url = format!("{}/api/publish/batch", gw.admin_url());
    let reading = tokio::spawn(async move {
        let got = reader.messages(600).await;
        got.windows(2).all(|w| w[1].1 == w[0].1 + 1)
    });
    for batch in 0..24 {
        let messages: Vec<_> = (0..25)
            .map(|i| json!({"room": room, "event": "e", "data": {"i": batch * 25 + i, "blob": blob}}))
            .collect();
        let resp = http
            .post(&url)
            .json(&json!({ "messages": messages }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    assert!(
        reading.await.unwrap(),
        "{t:?}: the reader got every message in order"
    );
    let mut slow = before;
    for _ in 0..100 {
        slow = gw
            .metric("herald_gateway_slow_consumer_disconnects_total", "")
            .await
            .unwrap();
        if slow > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        slow,
        before + 1.0,
        "{t:?}: exactly the stalled client was dropped"
    );
    let (_, code) = stalled.until_closed().await;
    assert!(matches!(code, Some(4002) | None), "{t:?}: {code:?}");
}

async fn connection_limit(t: Transport, gw: &GatewayProc) {
    // The gateway runs with --max-connections 2.
    let (mut a, _) = t.connect(gw).await;
    if t == Transport::Sse {
        a.send(&subscribe("limit", None, 1)).await;
        subscribed(&mut a).await;
    }
    let (_b, _) = Transport::WebSocket.connect(gw).await;
    let code = match t {
        Transport::Sse => {
            // Refused before the stream starts: 503 naming 4004.
            let (mut c, _) = t.connect(gw).await;
            c.send(&subscribe("limit", None, 1)).await;
            let (frames, code) = c.until_closed().await;
            assert!(frames.is_empty(), "{frames:?}");
            assert_eq!(code, Some(4004), "{t:?}");
            return;
        }
        Transport::WebSocket => {
            let (ws, _) = tokio_tungstenite::connect_async(gw.ws_url()).await.unwrap();
            let mut c = Client::Ws(Box::new(herald_tests::ws::Client { ws }));
            c.until_closed().await
        }
        _ => {
            let hash = gw.cert_hash().await;
            let flavor = if t == Transport::Quic {
                herald_tests::quic::Flavor::Raw
            } else {
                herald_tests::quic::Flavor::WebTransport
            };
            let c = herald_tests::quic::QuicClient::open(flavor, gw.quic_addr(), hash, "").await;
            let mut c = Client::Quic(Box::new(c));
            c.until_closed().await
        }
    };
    let (frames, code) = code;
    assert!(
        frames.iter().any(|f| matches!(
            f,
            ServerFrame::Disconnect {
                code: CloseCode::ConnectionLimit,
                ..
            }
        )),
        "{t:?}: {frames:?}"
    );
    assert_eq!(code, Some(4004), "{t:?}");
}

// --- the tests: each behaviour over every transport ---------------------

#[tokio::test]
async fn snapshot_then_ordered_updates_on_every_transport() {
    let gw = standalone(&["--snapshot-depth", "2"]);
    for t in Transport::ALL {
        snapshot_then_ordered_updates(t, &gw).await;
    }
}

#[tokio::test]
async fn recovery_with_since_on_every_transport() {
    let gw = standalone(&[]);
    for t in Transport::ALL {
        recovery_with_since(t, &gw).await;
    }
}

#[tokio::test]
async fn an_epoch_change_resets_on_every_transport() {
    let gw = standalone(&["--snapshot-depth", "2"]);
    for t in Transport::ALL {
        reset_on_epoch_change(t, &gw).await;
    }
}

#[tokio::test]
async fn the_bad_input_matrix_on_every_transport() {
    let gw = standalone(&["--max-rooms-per-connection", "2"]);
    for t in Transport::ALL.into_iter().filter(|t| t.sends_frames()) {
        bad_input_matrix(t, &gw).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_slow_on_every_transport() {
    let gw = standalone(&["--history-size", "10"]);
    for t in Transport::ALL {
        slow_consumer(t, &gw).await;
    }
}

#[tokio::test]
async fn the_connection_limit_is_shared_by_every_transport() {
    for t in Transport::ALL {
        let gw = standalone(&["--max-connections", "2"]);
        connection_limit(t, &gw).await;
    }
}

#[tokio::test]
async fn sigterm_tells_every_transport_to_reconnect() {
    let gw = standalone(&["--shutdown-grace-ms", "3000"]);
    let mut clients = Vec::new();
    for t in Transport::ALL {
        let (mut c, _) = t.connect(&gw).await;
        if !t.sends_frames() {
            c.send(&subscribe("drain", None, 1)).await;
            subscribed(&mut c).await;
        }
        clients.push((t, c));
    }
    gw.proc.signal("TERM");
    for (t, mut c) in clients {
        let (frames, code) = c.until_closed().await;
        let told = frames.iter().any(|f| {
            matches!(
                f,
                ServerFrame::Disconnect {
                    code: CloseCode::Shutdown,
                    reconnect: true,
                    ..
                }
            )
        });
        assert!(told, "{t:?}: {frames:?}");
        assert_eq!(code, Some(4001), "{t:?}");
    }
}
