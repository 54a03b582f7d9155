//! Live collections on the Redis bus: the stored set changes with each
//! stored publication, in the same script call as its history append, on a
//! single server and on a 3-master cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use herald_bus::redis::{Published, RedisBus, RedisBusConfig};
use herald_bus::{Bus, Message, Sink};
use herald_protocol::bus::{Control, Publication};
use herald_protocol::collection::{
    CHANGE_EVENT, Change, ChangeKind, LiveSet, Patch, SNAPSHOT_EVENT, SetChange, SetOp, SetSpec,
    Snapshot, key_text,
};
use herald_protocol::{JsonText, Position, RoomName};
use herald_tests::redis::{RedisCluster, RedisServer, cli};
use serde_json::{Value, json};

struct NoSink;
impl Sink for NoSink {
    fn deliver(&self, _msg: Arc<Message>) {}
    fn control(&self, _cmd: Control) {}
    fn resync_all(&self) {}
}

fn config(urls: Vec<String>, cluster: bool) -> RedisBusConfig {
    RedisBusConfig {
        urls,
        cluster,
        node_id: "sets".into(),
        shards: 8,
        history_size: 5,
        history_ttl: Duration::from_secs(60),
        command_timeout: Duration::from_secs(2),
        ..RedisBusConfig::default()
    }
}

async fn bus(urls: Vec<String>, cluster: bool) -> Arc<RedisBus> {
    let bus = RedisBus::connect(config(urls, cluster), None)
        .await
        .expect("connect");
    bus.start(Arc::new(NoSink)).await.expect("start");
    bus
}

fn spec() -> SetSpec {
    SetSpec {
        key: "_id".into(),
        sort: Some("n".into()),
        descending: true,
        limit: Some(10),
    }
}

fn change(room: &str, key: &str, kind: ChangeKind, op: SetOp, pos: &str) -> Publication {
    let c = Change {
        room: room.into(),
        key: json!(key),
        kind,
    };
    Publication {
        room: room.into(),
        event: CHANGE_EVENT.into(),
        data: c.to_json(),
        ts_ms: 1,
        src_ts_ms: None,
        src: Some("test".into()),
        src_pos: Some(pos.into()),
        fence: None,
        set: Some(SetChange { spec: spec(), op }),
    }
}

fn upsert(room: &str, doc: &Value, pos: &str) -> Publication {
    let key = doc["_id"].as_str().unwrap();
    change(
        room,
        key,
        ChangeKind::Upsert { doc: doc.clone() },
        SetOp::Put {
            key: key_text(&doc["_id"]),
            doc: doc.into(),
        },
        pos,
    )
}

fn patch(room: &str, after: &Value, set: Value, pos: &str) -> Publication {
    let key = after["_id"].as_str().unwrap();
    let p = Patch {
        set: set.as_object().unwrap().clone(),
        ..Patch::default()
    };
    change(
        room,
        key,
        ChangeKind::Patch(p),
        SetOp::Put {
            key: key_text(&after["_id"]),
            doc: after.into(),
        },
        pos,
    )
}

fn remove(room: &str, key: &str, pos: &str) -> Publication {
    change(
        room,
        key,
        ChangeKind::Remove,
        SetOp::Remove {
            key: key_text(&json!(key)),
        },
        pos,
    )
}

async fn snapshot(bus: &RedisBus, room: &str) -> (Snapshot, Position) {
    let h = bus
        .history(&RoomName::new(room).unwrap(), None, 3)
        .await
        .unwrap();
    assert!(
        !h.messages.is_empty(),
        "the latest changes, as for any room"
    );
    let m = h.snapshot.as_ref().expect("and the set as one message");
    assert_eq!((m.event.as_str(), m.offset), (SNAPSHOT_EVENT, h.offset));
    (
        Snapshot::decode(m.data.as_bytes()).unwrap(),
        Position {
            epoch: h.epoch.to_string(),
            offset: h.offset,
        },
    )
}

async fn stored(bus: &RedisBus, p: Publication) -> Published {
    bus.publish_detailed(vec![p]).await.pop().unwrap().unwrap()
}

/// Upserts, a patch, a remove and a replayed position; the snapshot and the
/// missed changes agree with what was published.
async fn the_set_follows_the_stored_changes(urls: Vec<String>, cluster: bool) {
    let bus = bus(urls, cluster).await;
    let r = "orders:live";
    let a = json!({"_id": "a", "n": 1, "status": "pending"});
    let b = json!({"_id": "b", "n": 2, "status": "pending"});
    assert!(matches!(
        stored(&bus, upsert(r, &a, "01")).await,
        Published::Stored(_)
    ));
    stored(&bus, upsert(r, &b, "02")).await;
    let (snap, at) = snapshot(&bus, r).await;
    assert_eq!(snap.docs, vec![b.clone(), a.clone()], "descending by n");
    assert_eq!(at.offset, 2);

    let a2 = json!({"_id": "a", "n": 1, "status": "paid"});
    stored(&bus, patch(r, &a2, json!({"status": "paid"}), "03")).await;
    // A replay of an old position changes neither the history nor the set.
    let gone = json!({"_id": "a", "n": 1, "status": "cancelled"});
    assert!(matches!(
        stored(&bus, patch(r, &gone, json!({"status": "cancelled"}), "02")).await,
        Published::Duplicate(_)
    ));
    stored(&bus, remove(r, "b", "04")).await;
    let (snap, _) = snapshot(&bus, r).await;
    assert_eq!(snap.docs, vec![a2.clone()]);

    // Recovery from the first snapshot's position: exactly the changes after
    // it, which applied to that snapshot give the current set.
    let h = bus
        .history(&RoomName::new(r).unwrap(), Some(&at), 3)
        .await
        .unwrap();
    assert!(h.recovered);
    assert!(h.snapshot.is_none(), "a recovery needs no set");
    let events: Vec<&str> = h.messages.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(events, vec![CHANGE_EVENT, CHANGE_EVENT]);
    let mut client = LiveSet::new(spec());
    client.docs.insert(key_text(&json!("a")), a);
    client.docs.insert(key_text(&json!("b")), b);
    for m in &h.messages {
        client
            .apply(&Change::decode(m.data.as_bytes()).unwrap())
            .unwrap();
    }
    assert_eq!(client.sorted(), vec![&a2]);

    // Past the history (5 entries), recovery is refused and the snapshot stands in.
    for i in 0..6 {
        let d = json!({"_id": format!("c{i}"), "n": 10 + i});
        stored(&bus, upsert(r, &d, &format!("1{i}"))).await;
    }
    let h = bus
        .history(&RoomName::new(r).unwrap(), Some(&at), 3)
        .await
        .unwrap();
    assert!(!h.recovered);
    assert_eq!(
        h.snapshot.as_ref().map(|m| m.event.as_str()),
        Some(SNAPSHOT_EVENT)
    );
    let set = bus
        .read_set(&RoomName::new(r).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (set.offset, set.docs.len(), set.spec),
        (h.offset, 7, spec())
    );

    // A reset replaces the whole set at once.
    let docs = vec![(
        key_text(&json!("z")),
        JsonText::from_value(&json!({"_id": "z", "n": 0})),
    )];
    let reset = Snapshot {
        room: r.into(),
        spec: spec(),
        reset: true,
        docs: vec![json!({"_id": "z", "n": 0})],
    };
    let mut p = upsert(r, &json!({"_id": "z"}), "20");
    p.event = SNAPSHOT_EVENT.into();
    p.data = reset.to_json();
    p.set = Some(SetChange {
        spec: spec(),
        op: SetOp::Reset { docs },
    });
    stored(&bus, p).await;
    let (snap, _) = snapshot(&bus, r).await;
    assert_eq!(snap.docs, vec![json!({"_id": "z", "n": 0})]);

    // A plain room has no set and keeps its latest messages as its snapshot.
    assert!(
        bus.read_set(&RoomName::new("plain").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_follows_the_stored_changes_on_one_server() {
    let server = RedisServer::start();
    the_set_follows_the_stored_changes(vec![server.url()], false).await;
    // The set room outlives the history TTL: its hash and its set persist.
    let keys = cli(server.port, &["KEYS", "herald:*:set:orders:live"]);
    let key = keys.trim();
    assert!(!key.is_empty(), "the set key exists");
    assert_eq!(cli(server.port, &["TTL", key]).trim(), "-1");
    let room = key.replace(":set:", ":room:");
    assert_eq!(cli(server.port, &["TTL", &room]).trim(), "-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_follows_the_stored_changes_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    the_set_follows_the_stored_changes(cluster.urls(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stored_spec_falls_back_to_the_latest_messages() {
    let server = RedisServer::start();
    let bus = bus(vec![server.url()], false).await;
    stored(&bus, upsert("broken", &json!({"_id": "a", "n": 1}), "01")).await;
    let keys = cli(server.port, &["KEYS", "herald:*:room:broken"]);
    cli(server.port, &["HSET", keys.trim(), "set", "{not json"]);
    let h = bus
        .history(&RoomName::new("broken").unwrap(), None, 3)
        .await
        .unwrap();
    assert_eq!(h.messages.len(), 1);
    assert_eq!(
        h.messages[0].event, CHANGE_EVENT,
        "the stored change, not a snapshot"
    );
}
