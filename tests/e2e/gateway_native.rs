//! The native protocol against a real `herald-gateway` process: snapshots,
//! ordered updates, leave-others, recovery after a reconnect, both encodings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herald_protocol::native::{
    ClientFrame, ErrorCode, Format, ServerFrame, decode_server, encode_client,
};
use herald_protocol::{Position, RoomName};
use herald_tests::gateway::GatewayProc;
use herald_tests::ws::Client;
use serde_json::json;

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

fn subscribe(name: &str, since: Option<Position>, leave_others: bool, id: u64) -> ClientFrame {
    ClientFrame::Subscribe {
        room: room(name),
        since,
        leave_others,
        token: None,
        id: Some(id),
    }
}

async fn publish_n(gw: &GatewayProc, room: &str, from: u64, to: u64) {
    for n in from..=to {
        gw.publish(room, "dashboard:update", json!({ "n": n }))
            .await;
    }
}

#[tokio::test]
async fn subscriber_gets_the_snapshot_at_once_then_every_update_in_order() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0", "--snapshot-depth", "2"]);
    publish_n(&gw, "dashboard:sales", 1, 3).await;

    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send(&subscribe("dashboard:sales", None, false, 1)).await;
    match c.next_frame().await {
        ServerFrame::Subscribed {
            room,
            offset,
            recovered,
            id,
            ..
        } => {
            assert_eq!(
                (room.as_str(), offset, recovered, id),
                ("dashboard:sales", 3, false, Some(1))
            );
        }
        other => panic!("expected subscribed, got {other:?}"),
    }
    let snapshot = c.messages(2).await;
    assert_eq!(
        snapshot.iter().map(|m| m.1).collect::<Vec<_>>(),
        vec![2, 3],
        "snapshot = the latest 2"
    );
    assert_eq!(snapshot[1].2, json!({ "n": 3 }));

    publish_n(&gw, "dashboard:sales", 4, 40).await;
    let live = c.messages(37).await;
    let offsets: Vec<u64> = live.iter().map(|m| m.1).collect();
    assert_eq!(offsets, (4..=40).collect::<Vec<_>>());
    assert!(
        live.iter().all(|m| m.2["n"].as_u64() == Some(m.1)),
        "payload matches offset"
    );
}

#[tokio::test]
async fn leave_others_switches_sections() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    for (i, r) in ["dashboard:a", "dashboard:b"].iter().enumerate() {
        c.send(&subscribe(r, None, false, i as u64)).await;
        assert!(matches!(
            c.next_frame().await,
            ServerFrame::Subscribed { .. }
        ));
    }
    c.send(&subscribe("dashboard:c", None, true, 9)).await;
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Subscribed { id: Some(9), .. }
    ));

    gw.publish("dashboard:a", "e", json!("a")).await;
    gw.publish("dashboard:b", "e", json!("b")).await;
    gw.publish("dashboard:c", "e", json!("c")).await;
    let first = c.messages(1).await;
    assert_eq!(
        first[0].0, "dashboard:c",
        "a and b were left: c's message comes first"
    );

    // Leaving all rooms stops everything.
    c.send(&ClientFrame::LeaveAll { id: Some(3) }).await;
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Unsubscribed { id: Some(3), .. }
    ));
    gw.publish("dashboard:c", "e", json!("after")).await;
    c.send(&ClientFrame::Ping { id: Some(4) }).await;
    assert!(
        matches!(c.next_frame().await, ServerFrame::Pong { id: Some(4) }),
        "no message after leave_all"
    );
}

#[tokio::test]
async fn a_reconnect_with_the_last_offset_gets_exactly_the_missed_messages() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    publish_n(&gw, "orders", 1, 5).await;
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send(&subscribe("orders", None, false, 1)).await;
    let ServerFrame::Subscribed { epoch, .. } = c.next_frame().await else {
        panic!()
    };
    assert_eq!(c.messages(1).await[0].1, 5);
    drop(c);

    publish_n(&gw, "orders", 6, 12).await;
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send(&subscribe(
        "orders",
        Some(Position {
            epoch: epoch.clone(),
            offset: 5,
        }),
        false,
        2,
    ))
    .await;
    match c.next_frame().await {
        ServerFrame::Subscribed {
            offset, recovered, ..
        } => assert_eq!((offset, recovered), (12, true)),
        other => panic!("{other:?}"),
    }
    let missed = c.messages(7).await;
    assert_eq!(
        missed.iter().map(|m| m.1).collect::<Vec<_>>(),
        (6..=12).collect::<Vec<_>>()
    );
    publish_n(&gw, "orders", 13, 13).await;
    assert_eq!(
        c.messages(1).await[0].1,
        13,
        "live continues after the recovered ones"
    );

    // A position from another epoch cannot be recovered: explicit not-recovered plus a snapshot.
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send(&subscribe(
        "orders",
        Some(Position {
            epoch: "gone".into(),
            offset: 3,
        }),
        false,
        3,
    ))
    .await;
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Subscribed {
            recovered: false,
            offset: 13,
            ..
        }
    ));
    assert_eq!(c.messages(1).await[0].1, 13);
}

#[tokio::test]
async fn binary_frames_speak_messagepack_both_ways() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0", "--allow-client-publish"]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send_binary(encode_client(
        &subscribe("bin", None, false, 1),
        Format::MsgPack,
    ))
    .await;
    // Replies now come as MessagePack (the client helper decodes binary as MessagePack).
    assert!(matches!(
        c.next_frame().await,
        ServerFrame::Subscribed { id: Some(1), .. }
    ));
    let publish = ClientFrame::Publish {
        room: room("bin"),
        event: "chat".into(),
        data: json!({"t": "hi"}),
        id: Some(2),
    };
    c.send_binary(encode_client(&publish, Format::MsgPack))
        .await;
    let mut got_message = false;
    let mut got_published = false;
    while !(got_message && got_published) {
        match c.ws_next_raw().await {
            tokio_tungstenite::tungstenite::Message::Binary(b) => {
                match decode_server(&b, Format::MsgPack).unwrap() {
                    ServerFrame::Message { data, offset, .. } => {
                        assert_eq!((data, offset), (json!({"t": "hi"}), 1));
                        got_message = true;
                    }
                    ServerFrame::Published { offset, id, .. } => {
                        assert_eq!((offset, id), (1, Some(2)));
                        got_published = true;
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn client_publish_is_refused_unless_allowed() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send(&ClientFrame::Publish {
        room: room("x"),
        event: "e".into(),
        data: json!(1),
        id: Some(5),
    })
    .await;
    match c.next_frame().await {
        ServerFrame::Error { code, id, .. } => {
            assert_eq!((code, id), (ErrorCode::PermissionDenied, Some(5)))
        }
        other => panic!("{other:?}"),
    }
}

trait RawNext {
    async fn ws_next_raw(&mut self) -> tokio_tungstenite::tungstenite::Message;
}

impl RawNext for Client {
    async fn ws_next_raw(&mut self) -> tokio_tungstenite::tungstenite::Message {
        use futures_util::StreamExt;
        loop {
            let m = tokio::time::timeout(herald_tests::ws::FRAME_TIMEOUT, self.ws.next())
                .await
                .expect("frame in time")
                .expect("open")
                .expect("ok");
            if !matches!(m, tokio_tungstenite::tungstenite::Message::Ping(_)) {
                return m;
            }
        }
    }
}
