//! Live collections end to end: the `herald-router` binary against
//! `herald-mongo-wire` (through the real `mongodb` driver) and a real
//! `redis-server`. What the bus stores for a collection room (its set and
//! its change messages) is read back as clients read it and compared with
//! the collection itself.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::time::Duration;

use herald_protocol::collection::{LiveSet, SetSpec};
use mongodb::bson::doc;
use serde_json::{Value, json};

use support::live::{
    RANDOM_RULES, Watched, apply_all, converged, in_order, messages_after, random_rooms,
    snapshot_copy,
};
use support::ops::Workload;
use support::{Env, RouterProc, wait_until};

const LONG: Duration = Duration::from_secs(60);

async fn wait_streaming(r: &RouterProc) {
    wait_until("the change stream to open", LONG, || async {
        r.metric("herald_router_stream_opens_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
}

/// (op, key, rest) of each change message in the room.
fn changes(msgs: &[(u64, String, Value)]) -> Vec<(String, Value, Value)> {
    msgs.iter()
        .map(|(_, e, d)| {
            assert_eq!(e, "herald:change", "{d}");
            let mut rest = d.clone();
            let m = rest.as_object_mut().unwrap();
            let op = m.remove("op").unwrap();
            let key = m.remove("key").unwrap();
            m.remove("room");
            (op.as_str().unwrap().to_owned(), key, rest)
        })
        .collect()
}

const BASIC_RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"
full_document = "whenAvailable"

[[collection]]
name = "live"
scope = "shop"
ns = "shop.orders"
filter = { status = { "$in" = ["paid", "shipped"] } }
room = "orders:live"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_updates_unsets_truncations_replaces_and_deletes_become_upserts_patches_and_removes()
 {
    let env = Env::start(BASIC_RULES).await;
    let client = env.client().await;
    client
        .database("shop")
        .run_command(doc! {"create": "orders", "changeStreamPreAndPostImages": {"enabled": true}})
        .await
        .unwrap();
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let q = |id: &str| doc! {"_id": id};
    orders
        .insert_one(doc! {"_id": "a", "status": "paid", "total": 5, "items": [1, 2, 3], "note": "n", "byId": {"1": {"qty": 1}}})
        .await
        .unwrap();
    orders
        .insert_one(doc! {"_id": "b", "status": "new"})
        .await
        .unwrap();
    orders
        .update_one(q("a"), doc! {"$set": {"total": 7}})
        .await
        .unwrap();
    orders
        .update_one(q("a"), doc! {"$unset": {"note": ""}})
        .await
        .unwrap();
    orders
        .update_one(q("a"), vec![doc! {"$set": {"items": [1]}}])
        .await
        .unwrap();
    orders
        .update_one(q("a"), doc! {"$set": {"byId.1.qty": 2}})
        .await
        .unwrap();
    orders
        .update_one(q("b"), doc! {"$set": {"status": "paid"}})
        .await
        .unwrap();
    orders
        .replace_one(q("a"), doc! {"status": "shipped", "total": 1})
        .await
        .unwrap();
    orders
        .update_one(q("a"), doc! {"$set": {"status": "void"}})
        .await
        .unwrap();
    orders.delete_one(q("b")).await.unwrap();
    let bus = env.verifier().await;
    wait_until("nine changes", LONG, || async {
        messages_after(&bus, "orders:live", None)
            .await
            .is_some_and(|m| m.len() >= 9)
    })
    .await;
    let msgs = messages_after(&bus, "orders:live", None).await.unwrap();
    let got = changes(&msgs);
    let want = vec![
        (
            "upsert",
            json!("a"),
            json!({"doc": {"_id": "a", "status": "paid", "total": 5, "items": [1, 2, 3], "note": "n", "byId": {"1": {"qty": 1}}}}),
        ),
        ("patch", json!("a"), json!({"set": {"total": 7}})),
        ("patch", json!("a"), json!({"unset": ["note"]})),
        ("patch", json!("a"), json!({"truncate": {"items": 1}})),
        (
            "patch",
            json!("a"),
            json!({"set": {"byId.1.qty": 2}, "paths": {"byId.1.qty": ["byId", "1", "qty"]}}),
        ),
        (
            "upsert",
            json!("b"),
            json!({"doc": {"_id": "b", "status": "paid"}}),
        ),
        (
            "upsert",
            json!("a"),
            json!({"doc": {"_id": "a", "status": "shipped", "total": 1}}),
        ),
        ("remove", json!("a"), json!({})),
        ("remove", json!("b"), json!({})),
    ];
    let want: Vec<(String, Value, Value)> = want
        .into_iter()
        .map(|(o, k, r)| (o.to_owned(), k, r))
        .collect();
    assert_eq!(got, want, "{}", r.log_text());
    // Replayed by a client, the patches give the documents as stored.
    let mut copy = LiveSet::new(SetSpec::by_id());
    apply_all(&mut copy, &msgs[..6]);
    assert_eq!(
        in_order(&copy),
        vec![
            json!({"_id": "a", "status": "paid", "total": 7, "items": [1], "byId": {"1": {"qty": 2}}}),
            json!({"_id": "b", "status": "paid"})
        ]
    );
    let (snap, _) = snapshot_copy(&bus, "orders:live").await.unwrap();
    assert!(snap.docs.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_sequence_of_1000_operations_keeps_every_copy_equal_to_the_collection() {
    let env = Env::start(RANDOM_RULES).await;
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let rooms = random_rooms();
    let mut w = Workload::new(16, 40);
    let mut last = Vec::new();
    for batch in 0..50 {
        last.clear();
        for _ in 0..20 {
            last.push(w.step(&orders).await);
        }
        for room in &rooms {
            if let Err(e) = converged(&bus, &orders, room, Duration::from_secs(20)).await {
                panic!(
                    "after batch {batch} ({:?}): {e}\nrouter log tail: {}",
                    last,
                    tail(&r.log_text())
                );
            }
        }
    }
    let top = r
        .metric("herald_router_events_total", "op=\"update\"")
        .await
        .unwrap_or(0.0);
    assert!(top > 300.0, "{top} updates read");
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_the_current_set_and_since_recovers_exactly_the_missed_changes() {
    let env = Env::start(RANDOM_RULES).await;
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let rooms = random_rooms();
    let mut w = Workload::new(7, 30);
    for _ in 0..150 {
        w.step(&orders).await;
    }
    for room in &rooms {
        converged(&bus, &orders, room, LONG).await.unwrap();
    }
    // A client joins now (snapshot), then goes away while 150 more happen.
    let mut joined: Vec<(LiveSet, herald_protocol::Position)> = Vec::new();
    for room in &rooms {
        joined.push(snapshot_copy(&bus, room.room).await.unwrap());
    }
    for _ in 0..150 {
        w.step(&orders).await;
    }
    for room in &rooms {
        converged(&bus, &orders, room, LONG).await.unwrap();
    }
    for (room, (mut set, pos)) in rooms.iter().zip(joined) {
        let missed = messages_after(&bus, room.room, Some(pos.clone()))
            .await
            .unwrap();
        let (now, now_pos) = snapshot_copy(&bus, room.room).await.unwrap();
        assert_eq!(
            missed.iter().map(|m| m.0).collect::<Vec<_>>(),
            ((pos.offset + 1)..=now_pos.offset).collect::<Vec<_>>(),
            "exactly the changes after the client's position"
        );
        apply_all(&mut set, &missed);
        assert_eq!(in_order(&set), in_order(&now), "{}", room.room);
    }
}

const TOP_RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"

[[collection]]
name = "top3"
scope = "shop"
ns = "shop.orders"
room = "orders:top3"
sort = "n"
order = "desc"
limit = 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_n_documents_enter_and_leave_the_window_as_the_sort_field_changes() {
    let env = Env::start(TOP_RULES).await;
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let spec = SetSpec {
        key: "_id".into(),
        sort: Some("n".into()),
        descending: true,
        limit: Some(3),
    };
    let room = Watched {
        room: "orders:top3",
        spec: spec.clone(),
        keep: |_| true,
        paths: None,
    };
    for (id, n) in [("a", 10), ("b", 20), ("c", 30), ("d", 5)] {
        orders.insert_one(doc! {"_id": id, "n": n}).await.unwrap();
    }
    converged(&bus, &orders, &room, LONG).await.unwrap();
    let set_of = |msgs: &[(u64, String, Value)]| {
        let mut s = LiveSet::new(spec.clone());
        apply_all(&mut s, msgs);
        in_order(&s)
            .iter()
            .map(|d| d["_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let count = |msgs: &[(u64, String, Value)]| msgs.len();
    let msgs = messages_after(&bus, room.room, None).await.unwrap();
    assert_eq!(count(&msgs), 3, "d never entered: {msgs:?}");
    assert_eq!(set_of(&msgs), ["c", "b", "a"]);
    // d rises into the window: a is evicted.
    orders
        .update_one(doc! {"_id": "d"}, doc! {"$set": {"n": 25}})
        .await
        .unwrap();
    converged(&bus, &orders, &room, LONG).await.unwrap();
    let msgs = messages_after(&bus, room.room, None).await.unwrap();
    let new = changes(&msgs[3..]);
    assert_eq!(
        new.iter()
            .map(|(o, k, _)| (o.as_str(), k.as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("remove", "a"), ("upsert", "d")]
    );
    // c sinks below a: patched, then it leaves and a comes back.
    orders
        .update_one(doc! {"_id": "c"}, doc! {"$set": {"n": 1}})
        .await
        .unwrap();
    converged(&bus, &orders, &room, LONG).await.unwrap();
    let msgs = messages_after(&bus, room.room, None).await.unwrap();
    assert_eq!(set_of(&msgs), ["d", "b", "a"]);
    let new = changes(&msgs[5..]);
    assert_eq!(
        new.iter()
            .map(|(o, k, _)| (o.as_str(), k.as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("patch", "c"), ("remove", "c"), ("upsert", "a")]
    );
    // A member is deleted: the next one outside comes in.
    orders.delete_one(doc! {"_id": "d"}).await.unwrap();
    converged(&bus, &orders, &room, LONG).await.unwrap();
    let msgs = messages_after(&bus, room.room, None).await.unwrap();
    assert_eq!(set_of(&msgs), ["b", "a", "c"]);
    // Outside the window and staying there: nothing is published.
    let before = msgs.len();
    orders
        .update_one(doc! {"_id": "c"}, doc! {"$set": {"n": 0}})
        .await
        .unwrap();
    orders
        .update_one(doc! {"_id": "b"}, doc! {"$set": {"x": 1}})
        .await
        .unwrap();
    converged(&bus, &orders, &room, LONG).await.unwrap();
    let msgs = messages_after(&bus, room.room, None).await.unwrap();
    assert_eq!(msgs.len(), before + 2, "c's patch and b's patch only");
    drop(r);
}

const SKU_RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"
full_document = "updateLookup"

[[collection]]
name = "skus"
scope = "shop"
ns = "shop.orders"
room = "skus"
key = "sku"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_document_and_one_without_the_key_are_skipped_counted_and_the_stream_goes_on()
{
    let env = Env::start(SKU_RULES).await;
    let r = env.router("r1", &["--collection-max-doc-bytes", "1024"]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    orders
        .insert_one(doc! {"_id": 1, "sku": "s1"})
        .await
        .unwrap();
    orders.insert_one(doc! {"_id": 2}).await.unwrap();
    orders
        .insert_one(doc! {"_id": 3, "sku": "s3", "blob": "x".repeat(5000)})
        .await
        .unwrap();
    orders
        .insert_one(doc! {"_id": 4, "sku": "s4"})
        .await
        .unwrap();
    // A delete carries only `_id`: the member is found by it.
    orders.delete_one(doc! {"_id": 1}).await.unwrap();
    orders
        .insert_one(doc! {"_id": 5, "sku": "s5"})
        .await
        .unwrap();
    wait_until("s5 in the set", LONG, || async {
        snapshot_copy(&bus, "skus")
            .await
            .is_some_and(|(s, _)| s.docs.contains_key("\"s5\""))
    })
    .await;
    let (s, _) = snapshot_copy(&bus, "skus").await.unwrap();
    let mut keys: Vec<&String> = s.docs.keys().collect();
    keys.sort();
    assert_eq!(keys, ["\"s4\"", "\"s5\""]);
    for reason in ["no_key", "doc_too_large"] {
        assert_eq!(
            r.metric(
                "herald_router_skipped_events_total",
                &format!("reason=\"{reason}\"")
            )
            .await,
            Some(1.0),
            "{reason}: {}",
            r.log_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ties_at_the_window_edge_follow_the_set_order_not_the_server_id_order() {
    let env = Env::start(TOP_RULES).await;
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let room = Watched {
        room: "orders:top3",
        spec: SetSpec {
            key: "_id".into(),
            sort: Some("n".into()),
            descending: true,
            limit: Some(3),
        },
        keep: |_| true,
        paths: None,
    };
    // Equal sort values: the set orders by key text ("10" < "11" < "8"),
    // the server's `find` by `_id` (8 < 9 < 10).
    for id in 8..13_i64 {
        orders.insert_one(doc! {"_id": id, "n": 5}).await.unwrap();
    }
    converged(&bus, &orders, &room, LONG).await.unwrap();
    orders.delete_one(doc! {"_id": 11_i64}).await.unwrap();
    converged(&bus, &orders, &room, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.log_text()));
    let (s, _) = snapshot_copy(&bus, room.room).await.unwrap();
    let ids: Vec<i64> = in_order(&s)
        .iter()
        .map(|d| d["_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [10, 12, 8]);
}
