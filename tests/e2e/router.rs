//! The router end to end through a browser-facing gateway: a change made
//! through the real `mongodb` driver (against `herald-mongo-wire`) reaches a
//! native WebSocket client subscribed to the routed room, with the rule's
//! event name and payload, for insert, update, replace and delete.
//!
//! Needs the workspace binaries: `cargo build -p herald-gateway -p
//! herald-router -p herald-mongo-wire`.

use std::time::Duration;

use herald_protocol::native::{ClientFrame, ServerFrame};
use herald_tests::gateway::{GatewayProc, metric_value};
use herald_tests::process::{Proc, bin};
use herald_tests::redis::RedisServer;
use herald_tests::ws::Client;
use mongodb::bson::doc;
use serde_json::json;

const RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"
full_document = "updateLookup"

[[rule]]
name = "by_room"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update", "replace"]
rooms = ["room:{fullDocument.room}"]
event = "dashboard:update"

[[rule]]
name = "all"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update", "replace", "delete"]
rooms = ["orders:all"]
event = "order:change"
payload = "event"
"#;

fn after<'a>(line: &'a str, prefix: &str) -> &'a str {
    let start = line.find(prefix).expect("prefix in line") + prefix.len();
    line[start..].split_whitespace().next().expect("value")
}

async fn subscribe(c: &mut Client, room: &str, id: u64) {
    c.send(&ClientFrame::Subscribe {
        room: herald_protocol::RoomName::new(room).expect("valid room"),
        since: None,
        leave_others: false,
        token: None,
        id: Some(id),
    })
    .await;
    loop {
        if let ServerFrame::Subscribed { .. } = c.next_frame().await {
            return;
        }
    }
}

/// The next `n` messages as (event, data).
async fn events(c: &mut Client, n: usize) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    while out.len() < n {
        if let ServerFrame::Message { event, data, .. } = c.next_frame().await {
            out.push((event, data));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_websocket_clients_in_routed_rooms() {
    let wire = Proc::spawn(&bin("herald-mongo-wire"), &["--port".into(), "0".into()]);
    let uri = after(
        &wire.wait_line("MONGO_WIRE_URI=", Duration::from_secs(20)),
        "MONGO_WIRE_URI=",
    )
    .to_owned();
    let redis = RedisServer::start();
    let gw = GatewayProc::start(&[
        "--redis-url",
        &redis.url(),
        "--public-rooms",
        "room:*,orders:all",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, RULES).expect("rules file");
    let router = Proc::spawn(
        &bin("herald-router"),
        &[
            "--mongo".into(),
            uri.clone(),
            "--redis".into(),
            redis.url(),
            "--rules".into(),
            rules.display().to_string(),
            "--admin-listen".into(),
            "127.0.0.1:0".into(),
        ],
    );
    let admin = after(
        &router.wait_line("herald-router: admin", Duration::from_secs(20)),
        "admin ",
    )
    .to_owned();
    let mut opened = false;
    for _ in 0..200 {
        let text = reqwest::get(&admin)
            .await
            .expect("router metrics")
            .text()
            .await
            .unwrap_or_default();
        if metric_value(&text, "herald_router_stream_opens_total", "scope=\"shop\"").unwrap_or(0.0)
            >= 1.0
        {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        opened,
        "the router never opened its change stream:\n{}",
        router.log_text()
    );

    let (mut a, _) = Client::connect(&gw.ws_url()).await;
    subscribe(&mut a, "room:a", 1).await;
    let (mut all, _) = Client::connect(&gw.ws_url()).await;
    subscribe(&mut all, "orders:all", 1).await;

    let orders = mongodb::Client::with_uri_str(&uri)
        .await
        .expect("driver")
        .database("shop")
        .collection::<mongodb::bson::Document>("orders");
    // One operation at a time: with `updateLookup` a real server returns the
    // document as it is when the event is read, so an update read after a
    // later delete has no full document (and no room). Waiting for each
    // event keeps the test about routing, not about that race.
    orders
        .insert_one(doc! {"_id": 1, "room": "a", "total": 5})
        .await
        .expect("insert");
    assert_eq!(
        events(&mut a, 1).await,
        vec![(
            "dashboard:update".to_owned(),
            json!({"_id": 1, "room": "a", "total": 5})
        )]
    );
    orders
        .update_one(doc! {"_id": 1}, doc! {"$set": {"total": 6}})
        .await
        .expect("update");
    assert_eq!(
        events(&mut a, 1).await,
        vec![(
            "dashboard:update".to_owned(),
            json!({"_id": 1, "room": "a", "total": 6})
        )]
    );
    orders
        .replace_one(doc! {"_id": 1}, doc! {"room": "a", "total": 7})
        .await
        .expect("replace");
    assert_eq!(
        events(&mut a, 1).await,
        vec![(
            "dashboard:update".to_owned(),
            json!({"_id": 1, "room": "a", "total": 7})
        )]
    );
    orders.delete_one(doc! {"_id": 1}).await.expect("delete");
    let got = events(&mut all, 4).await;
    let ops: Vec<&str> = got
        .iter()
        .map(|(_, d)| d["operationType"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ops, ["insert", "update", "replace", "delete"]);
    assert!(got.iter().all(|(e, _)| e == "order:change"));
    assert_eq!(got[3].1["documentKey"], json!({"_id": 1}));
}
