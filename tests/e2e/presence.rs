//! Presence with identity, against two real gateways on one real Redis:
//! `GET /api/rooms/{room}/presence` lists each user once across both
//! nodes, bounded by `limit` with the total beyond it, behind the `read`
//! scope; join and leave events of a `--presence-rooms` room reach
//! subscribers on the other gateway (native frame and Socket.IO event),
//! and a room not configured for presence gets none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_protocol::RoomName;
use herald_protocol::bus::PresenceAction;
use herald_protocol::native::{ClientFrame, ServerFrame};
use herald_tests::gateway::GatewayProc;
use herald_tests::node::{finish, node};
use herald_tests::redis::RedisServer;
use herald_tests::tokens::{self, SECRET};
use herald_tests::ws::Client;
use serde_json::Value;
use tokio::time::Instant;

const READ_KEY: &str = "presence-read-key-0123456789";
const PUBLISH_KEY: &str = "presence-publish-key-0123456789";
const WAIT: Duration = Duration::from_secs(15);

/// A gateway on `redis` that verifies HS256 tokens, tracks presence in
/// `chat:*` and lets anonymous clients read `chat:*` and `lobby`.
fn gateway(redis: &RedisServer, node: &str) -> GatewayProc {
    let url = redis.url();
    let read = format!("read:{READ_KEY}");
    let publish = format!("publish:{PUBLISH_KEY}");
    GatewayProc::start(&[
        "--redis-url",
        url.as_str(),
        "--node-id",
        node,
        "--jwt-hmac-secret",
        SECRET,
        "--public-rooms",
        "chat:*,lobby",
        "--presence-rooms",
        "chat:*",
        "--socketio-leave-others",
        "false",
        "--api-scoped-key",
        read.as_str(),
        "--api-scoped-key",
        publish.as_str(),
    ])
}

fn token(user: &str) -> String {
    tokens::hs256(None, &tokens::connection(user, &["chat:*", "lobby"], 600))
}

/// A native client of `user` (anonymous for `None`) on `gw`.
async fn client(gw: &GatewayProc, user: Option<&str>) -> Client {
    let url = match user {
        Some(u) => format!("{}?token={}", gw.ws_url(), token(u)),
        None => gw.ws_url(),
    };
    Client::connect(&url).await.0
}

/// Subscribes and reads up to the `subscribed` answer (presence events
/// that come first are dropped).
async fn subscribe(c: &mut Client, room: &str) {
    c.send(&ClientFrame::Subscribe {
        room: RoomName::new(room).unwrap(),
        since: None,
        leave_others: false,
        token: None,
        id: Some(1),
    })
    .await;
    loop {
        match c.next_frame().await {
            ServerFrame::Subscribed { .. } => return,
            ServerFrame::Presence { .. } | ServerFrame::Message { .. } => {}
            other => panic!("subscribe {room}: {other:?}"),
        }
    }
}

async fn get(gw: &GatewayProc, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", gw.admin_url()));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Waits until both gateways see each other in the node registry.
async fn both_live(gw: &GatewayProc) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, v) = get(gw, "/api/nodes", Some(READ_KEY)).await;
        if v["nodes"].as_array().is_some_and(|n| n.len() == 2) {
            return;
        }
        assert!(Instant::now() < deadline, "nodes: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the presence API until `pred` holds; returns the last answer.
async fn presence_until(gw: &GatewayProc, query: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, v) = get(
            gw,
            &format!("/api/rooms/chat:1/presence{query}"),
            Some(READ_KEY),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "presence never matched: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn users(v: &Value) -> Vec<(String, u64)> {
    v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user"].as_str().unwrap().to_owned(),
                u["sessions"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn users_across_two_gateways_are_listed_once_bounded_and_behind_the_read_scope() {
    let redis = RedisServer::start();
    let a = gateway(&redis, "gw-a");
    let b = gateway(&redis, "gw-b");
    both_live(&a).await;
    // On a: alice twice, bob; on b: alice again, carol, one anonymous.
    let mut held = Vec::new();
    for (gw, user) in [
        (&a, Some("alice")),
        (&a, Some("alice")),
        (&a, Some("bob")),
        (&b, Some("alice")),
        (&b, Some("carol")),
        (&b, None),
    ] {
        let mut c = client(gw, user).await;
        subscribe(&mut c, "chat:1").await;
        held.push(c);
    }

    let all = presence_until(&a, "", |v| v["sessions"] == 6).await;
    assert_eq!(
        users(&all),
        [("alice".into(), 3), ("bob".into(), 1), ("carol".into(), 1)],
        "{all}"
    );
    assert_eq!(all["total_users"], 3, "{all}");
    assert_eq!(all["total_exact"], true);
    assert_eq!(all["truncated"], false);
    assert_eq!(all["anonymous_sessions"], 1);
    assert_eq!(all["limit"], 100, "the documented default");
    assert_eq!(
        (all["nodes"].as_u64(), all["nodes_answered"].as_u64()),
        (Some(2), Some(2))
    );

    // The other gateway gives the same answer.
    let from_b = presence_until(&b, "?limit=2", |v| v["sessions"] == 6).await;
    assert_eq!(
        users(&from_b),
        [("alice".into(), 3), ("bob".into(), 1)],
        "the first two users, byte order: {from_b}"
    );
    assert_eq!(from_b["total_users"], 3, "the total beyond the bound");
    assert_eq!(from_b["truncated"], true);

    // Leaving updates it.
    held.remove(2); // bob
    let after = presence_until(&a, "", |v| v["sessions"] == 5).await;
    assert_eq!(
        users(&after),
        [("alice".into(), 3), ("carol".into(), 1)],
        "{after}"
    );

    // The read scope, and bounded limits.
    let path = "/api/rooms/chat:1/presence";
    assert_eq!(get(&a, path, None).await.0, 401);
    assert_eq!(
        get(&a, path, Some("not-a-key-of-this-gateway")).await.0,
        401
    );
    assert_eq!(get(&a, path, Some(PUBLISH_KEY)).await.0, 403);
    for bad in ["?limit=0", "?limit=1001", "?limit=many", "?page=2"] {
        let (status, v) = get(&a, &format!("{path}{bad}"), Some(READ_KEY)).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    assert_eq!(
        get(&a, &format!("{path}?limit=1000"), Some(READ_KEY))
            .await
            .0,
        200
    );
}

/// Reads `c`'s frames until `user` has `n` presence events in any room;
/// returns them as (room, action).
async fn presence_of(c: &mut Client, user: &str, n: usize) -> Vec<(String, PresenceAction)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {got:?} for {user}");
        if let ServerFrame::Presence {
            room,
            user: who,
            action,
        } = c.next_frame().await
            && who == user
        {
            got.push((room, action));
        }
    }
    got
}

#[tokio::test]
async fn joins_and_leaves_reach_subscribers_on_the_other_gateway_native_and_socketio() {
    let redis = RedisServer::start();
    let a = gateway(&redis, "gw-a");
    let b = gateway(&redis, "gw-b");
    both_live(&a).await;

    // A native watcher on b, in a presence room and in one that is not.
    let mut watcher = client(&b, Some("dave")).await;
    subscribe(&mut watcher, "chat:sio").await;
    subscribe(&mut watcher, "lobby").await;
    // A Socket.IO watcher on b, with the real client.
    let erin = token("erin");
    let script = node(&b, "sio-presence.mjs", &[erin.as_str(), "alice"]);
    script.wait_line("\"step\":\"ready\"", WAIT);

    // alice, on a: two tabs in the presence room, one in lobby.
    let mut tab1 = client(&a, Some("alice")).await;
    subscribe(&mut tab1, "chat:sio").await;
    subscribe(&mut tab1, "lobby").await;
    let mut tab2 = client(&a, Some("alice")).await;
    subscribe(&mut tab2, "chat:sio").await;
    let joined = presence_of(&mut watcher, "alice", 1).await;
    assert_eq!(joined, [("chat:sio".to_owned(), PresenceAction::Join)]);
    // One tab leaves: alice is still there. Then the last one disconnects.
    drop(tab1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(tab2);
    let left = presence_of(&mut watcher, "alice", 1).await;
    assert_eq!(
        left,
        [("chat:sio".to_owned(), PresenceAction::Leave)],
        "one join, no second join for the second tab, no event for lobby, one leave"
    );

    let result = finish(&b, script);
    assert_eq!(
        result["events"],
        serde_json::json!(["chat:sio:join", "chat:sio:leave"]),
        "{result}"
    );
    assert!(
        b.metric(
            "herald_gateway_presence_events_total",
            "outcome=\"delivered\""
        )
        .await
        .is_some_and(|n| n >= 2.0)
    );
}
