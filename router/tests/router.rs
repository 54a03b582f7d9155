//! The router end to end: the real `mongodb` driver against
//! `herald-mongo-wire`, a real `redis-server`, the `herald-router` binary,
//! and the rooms read back through the gateway's `RedisBus`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use herald_bus::redis::RedisBus;
use herald_protocol::bus::Publication;
use mongodb::bson::doc;
use rand::Rng;
use serde_json::json;

use support::{Env, RULES, RouterProc, room, room_seqs, wait_until};

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

async fn wait_count(bus: &RedisBus, name: &str, n: usize) {
    wait_until(&format!("{n} messages in {name}"), LONG, || async {
        room(bus, name).await.len() >= n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_reaches_its_rooms_with_event_and_payload() {
    let env = Env::start(RULES).await;
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    // One operation at a time: `updateLookup` reads the document when the
    // event is read, so an update read after the delete has no full document.
    orders
        .insert_one(doc! {"_id": 1, "room": "a", "total": 5})
        .await
        .unwrap();
    wait_count(&bus, "orders:all", 1).await;
    orders
        .update_one(doc! {"_id": 1}, doc! {"$set": {"total": 6}})
        .await
        .unwrap();
    wait_count(&bus, "orders:all", 2).await;
    orders
        .replace_one(doc! {"_id": 1}, doc! {"room": "a", "total": 7, "note": "r"})
        .await
        .unwrap();
    wait_count(&bus, "orders:all", 3).await;
    orders.delete_one(doc! {"_id": 1}).await.unwrap();
    wait_count(&bus, "orders:all", 4).await;
    let a = room(&bus, "room:a").await;
    assert_eq!(
        a,
        vec![
            (
                "dashboard:update".to_owned(),
                json!({"_id": 1, "room": "a", "total": 5})
            ),
            (
                "dashboard:update".to_owned(),
                json!({"_id": 1, "room": "a", "total": 6})
            ),
            (
                "dashboard:update".to_owned(),
                json!({"_id": 1, "room": "a", "total": 7, "note": "r"})
            ),
        ]
    );
    let all = room(&bus, "orders:all").await;
    let ops: Vec<&str> = all
        .iter()
        .map(|(_, d)| d["operationType"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["insert", "update", "replace", "delete"]);
    assert!(all.iter().all(|(e, _)| e == "order:change"));
    assert_eq!(
        all[1].1["updateDescription"]["updatedFields"],
        json!({"total": 6})
    );
    assert_eq!(all[3].1["documentKey"], json!({"_id": 1}));
    assert!(
        r.metric("herald_router_events_total", "op=\"insert\"")
            .await
            .unwrap()
            >= 1.0
    );
    assert_eq!(
        r.metric("herald_router_leader", "scope=\"shop\"").await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_ten_times_loses_and_duplicates_nothing() {
    const ROOMS: usize = 20;
    const TOTAL: usize = 5000;
    let env = Env::start(RULES).await;
    let mut r = env.router("r1", &["--checkpoint-interval-ms", "300"]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let writer = tokio::spawn(async move {
        for i in 0..TOTAL {
            let room = format!("k{}", i % ROOMS);
            orders
                .insert_one(doc! {"_id": i as i64, "room": room, "seq": i as i64})
                .await
                .unwrap();
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let mut during_inserts = 0;
    for _ in 0..10 {
        let pause = rand::rng().random_range(100..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if !writer.is_finished() {
            during_inserts += 1;
        }
        r.kill9();
        r = env.router("r1", &["--checkpoint-interval-ms", "300"]);
    }
    assert!(
        during_inserts >= 3,
        "only {during_inserts} of the 10 kills came while inserts were running"
    );
    writer.await.unwrap();
    let bus = env.verifier().await;
    let mut got = BTreeMap::new();
    for k in 0..ROOMS {
        let name = format!("room:k{k}");
        wait_count(&bus, &name, TOTAL / ROOMS).await;
        // Let any straggler (a duplicate) land before judging.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let seqs: Vec<i64> = room_seqs(&bus, &name).await;
        got.insert(k, seqs);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (k, seqs) in got {
        let want: Vec<i64> = (0..TOTAL as i64)
            .filter(|i| *i as usize % ROOMS == k)
            .collect();
        let again: Vec<i64> = room_seqs(&bus, &format!("room:k{k}")).await;
        assert_eq!(seqs, want, "room k{k}: exactly every change, in order");
        assert_eq!(again, want, "room k{k}: no late duplicate");
    }
    assert!(r.log_text().contains("resuming"), "{}", r.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_history_resyncs_once_and_does_not_spin() {
    let env = Env::start(RULES).await;
    let mut r = env.router("r1", &["--checkpoint-interval-ms", "0"]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    orders
        .insert_one(doc! {"_id": 1, "room": "a", "v": 1})
        .await
        .unwrap();
    orders
        .insert_one(doc! {"_id": 2, "room": "b", "v": 1})
        .await
        .unwrap();
    let bus = env.verifier().await;
    wait_count(&bus, "room:b", 1).await;
    r.term();
    // While the router is down: a change it will never see in the stream.
    orders
        .update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();
    orders
        .insert_one(doc! {"_id": 3, "room": "a", "v": 1})
        .await
        .unwrap();
    env.mongo.truncate_oplog();
    let r = env.router("r1", &[]);
    wait_until("a resync", LONG, || async {
        r.metric("herald_router_resyncs_total", "scope=\"shop\"")
            .await
            == Some(1.0)
    })
    .await;
    wait_until("the resync signal in room:a", LONG, || async {
        room(&bus, "room:a")
            .await
            .iter()
            .any(|(e, _)| e == "herald:resync")
    })
    .await;
    let a = room(&bus, "room:a").await;
    let (signal_at, signal) = a
        .iter()
        .enumerate()
        .find(|(_, (e, _))| e == "herald:resync")
        .unwrap();
    assert_eq!(signal.1["reason"], json!("history_lost"));
    assert_eq!(
        signal_at, 1,
        "the signal comes first, right after the old state: {a:?}"
    );
    wait_count(&bus, "room:a", 4).await;
    let a = room(&bus, "room:a").await;
    let snapshot: Vec<&serde_json::Value> = a[signal_at + 1..].iter().map(|(_, d)| d).collect();
    assert_eq!(
        snapshot,
        vec![
            &json!({"_id": 1, "room": "a", "v": 2}),
            &json!({"_id": 3, "room": "a", "v": 1})
        ],
        "after the signal, the fresh state of room:a, including the change made while down"
    );
    // The checkpoint's resume was refused once; nothing resumed after it.
    let log = env.mongo.stats().log;
    let refused = log
        .iter()
        .position(|c| c.name == "aggregate" && c.error_code == Some(286))
        .expect("the resume from the checkpoint was refused");
    assert!(log[refused].resume_after.is_some(), "{:?}", log[refused]);
    assert!(
        log[refused + 1..]
            .iter()
            .filter(|c| c.name == "aggregate")
            .all(|c| !c.has_resume_args()),
        "an aggregate after the loss resumed: {log:?}"
    );
    // It reads on from "now" and does not retry the dead token.
    env.mongo.reset_stats();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let aggregates = env.mongo.stats().aggregates();
    assert!(
        aggregates <= 1,
        "{aggregates} aggregates in 3 s: the router is spinning"
    );
    orders
        .insert_one(doc! {"_id": 4, "room": "a", "v": 9})
        .await
        .unwrap();
    wait_until("a live change after the resync", LONG, || async {
        room(&bus, "room:a")
            .await
            .last()
            .is_some_and(|(_, d)| d["_id"] == json!(4))
    })
    .await;
    assert_eq!(
        r.metric("herald_router_resyncs_total", "scope=\"shop\"")
            .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_within_two_leases_without_loss_or_duplicate() {
    const TOTAL: i64 = 600;
    let lease = ["--lease-ms", "1000", "--checkpoint-interval-ms", "200"];
    let env = Env::start(RULES).await;
    let mut r1 = env.router("r1", &lease);
    wait_streaming(&r1).await;
    let r2 = env.router("r2", &lease);
    wait_until("r2 standing by", LONG, || async {
        r2.metric("herald_router_leader", "scope=\"shop\"").await == Some(0.0)
    })
    .await;
    let orders = env.orders().await;
    let writer = tokio::spawn(async move {
        for i in 0..TOTAL {
            orders
                .insert_one(doc! {"_id": i, "room": "ha", "seq": i})
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        r2.metric("herald_router_events_total", "op=\"insert\"")
            .await,
        Some(0.0),
        "the standby reads nothing while the leader lives"
    );
    r1.kill9();
    let killed = Instant::now();
    wait_until("r2 to lead", Duration::from_secs(10), || async {
        r2.metric("herald_router_leader", "scope=\"shop\"").await == Some(1.0)
    })
    .await;
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_millis(2000 + 500),
        "takeover took {took:?}, over two lease periods"
    );
    writer.await.unwrap();
    let bus = env.verifier().await;
    wait_count(&bus, "room:ha", TOTAL as usize).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seqs: Vec<i64> = room_seqs(&bus, "room:ha").await;
    assert_eq!(seqs, (0..TOTAL).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_fence_is_refused_and_the_router_recovers_without_loss() {
    // A newer tenure's fence reaches the bus (as when another router took
    // over while r1 was paused): r1's next publish is refused, r1 steps
    // down, takes a fresh lease and fence, and publishes the change.
    let env = Env::start(RULES).await;
    let r1 = env.router("r1", &["--lease-ms", "1000"]);
    wait_streaming(&r1).await;
    let fence: u64 = support::redis::cli(env.redis.port, &["INCR", "herald:router:{shop}:fence"])
        .trim()
        .parse()
        .unwrap();
    let bus = env.verifier().await;
    let stored = bus
        .publish_detailed(vec![Publication {
            room: "room:f".into(),
            event: "newer".into(),
            data: json!(null).into(),
            ts_ms: 0,
            src_ts_ms: None,
            src: Some("shop".into()),
            src_pos: Some("0".into()),
            fence: Some(fence),
            set: None,
        }])
        .await;
    assert!(stored[0].is_ok());
    let orders = env.orders().await;
    orders
        .insert_one(doc! {"_id": 1, "room": "f", "v": 1})
        .await
        .unwrap();
    wait_count(&bus, "room:f", 2).await;
    let f = room(&bus, "room:f").await;
    assert_eq!(f[0].0, "newer");
    assert_eq!(f[1].1, json!({"_id": 1, "room": "f", "v": 1}));
    let log = r1.log_text();
    assert!(log.contains("fenced off by a newer leader"), "{log}");
    assert_eq!(log.matches("leading scope").count(), 2, "{log}");
}

#[test]
fn an_invalid_rules_file_exits_2_naming_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        RULES.replacen("ops = [\"insert\", \"update\", \"replace\"]", "ops = []", 1),
    )
    .unwrap();
    let out = std::process::Command::new(support::router_bin())
        .args([
            "--mongo",
            "mongodb://127.0.0.1:1",
            "--redis",
            "redis://127.0.0.1:1",
            "--rules",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rule `by_room`: field `ops`"), "{err}");
    let out = std::process::Command::new(support::router_bin())
        .args(["--redis", "redis://127.0.0.1:1", "--rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mongo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_and_mongodb_are_retried_not_fatal() {
    let env = Env::start(RULES).await;
    let dead_redis = format!("redis://127.0.0.1:{}", support::free_port());
    let mut args: Vec<String> = [
        "--mongo",
        &env.mongo.uri(),
        "--redis",
        &dead_redis,
        "--rules",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(env.rules.display().to_string());
    let mut r = RouterProc::spawn(&args, &env.dir.path().join("dead-redis.log"));
    wait_until("a Redis retry in the log", LONG, || async {
        r.log_text().contains("cannot connect to Redis")
    })
    .await;
    assert!(
        r.child.try_wait().unwrap().is_none(),
        "exited instead of retrying"
    );
    // The gauge exists from the start (at 0): a router that cannot reach
    // Redis holds no lease. (`""` would ask for an unlabelled series,
    // which never exists, so that comparison could not fail.)
    assert_eq!(
        r.metric("herald_router_leader", "scope=\"shop\"").await,
        Some(0.0)
    );
    r.kill9();

    let dead_mongo = format!(
        "mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=300",
        support::free_port()
    );
    let mut args: Vec<String> = [
        "--mongo",
        &dead_mongo,
        "--redis",
        &env.redis.url(),
        "--rules",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(env.rules.display().to_string());
    let r = RouterProc::spawn(&args, &env.dir.path().join("dead-mongo.log"));
    wait_until("a MongoDB retry in the log", LONG, || async {
        r.log_text()
            .contains("cannot open the change stream; retrying")
    })
    .await;
    let mut r = r;
    assert!(
        r.child.try_wait().unwrap().is_none(),
        "exited instead of retrying"
    );
}

/// The scope's stored checkpoint: (token hex, invalidate flag "1"/"0").
fn checkpoint(env: &Env) -> (String, String) {
    let get = |field: &str| {
        support::redis::cli(
            env.redis.port,
            &["HGET", "herald:router:{shop}:checkpoint", field],
        )
        .trim()
        .to_owned()
    };
    (get("token"), get("invalidate"))
}

/// Inserts `d`, retrying through dropped connections; a duplicate key on a
/// retry means the first attempt landed.
async fn insert_through_faults(
    orders: &mongodb::Collection<mongodb::bson::Document>,
    d: mongodb::bson::Document,
) {
    use mongodb::error::{ErrorKind, WriteFailure};
    for _ in 0..100 {
        match orders.insert_one(d.clone()).await {
            Ok(_) => return,
            Err(e) => {
                if let ErrorKind::Write(WriteFailure::WriteError(w)) = e.kind.as_ref() {
                    if w.code == 11000 {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    panic!("insert of {d} kept failing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_errors_and_dropped_connections_resume_without_loss_or_duplicates() {
    const ROOMS: i64 = 20;
    const TOTAL: i64 = 600;
    let env = Env::start(RULES).await;
    let mut r = env.router("r1", &["--checkpoint-interval-ms", "200"]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    env.mongo.reset_stats();
    let writer = tokio::spawn(async move {
        for i in 0..TOTAL {
            let room = format!("f{}", i % ROOMS);
            insert_through_faults(&orders, doc! {"_id": i, "room": room, "seq": i}).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut during_inserts = 0;
    for round in 0..6 {
        let pause = rand::rng().random_range(100..300);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if !writer.is_finished() {
            during_inserts += 1;
        }
        if round % 2 == 0 {
            env.mongo
                .fail_next_get_mores(2, 91, &["ResumableChangeStreamError"]);
        } else {
            env.mongo.drop_connections();
        }
    }
    assert!(
        during_inserts >= 3,
        "only {during_inserts} of the 6 faults came while inserts were running"
    );
    writer.await.unwrap();
    let bus = env.verifier().await;
    for k in 0..ROOMS {
        wait_count(&bus, &format!("room:f{k}"), (TOTAL / ROOMS) as usize).await;
    }
    wait_count(&bus, "orders:all", TOTAL as usize).await;
    // Let any straggler (a duplicate) land before judging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for k in 0..ROOMS {
        let seqs: Vec<i64> = room_seqs(&bus, &format!("room:f{k}")).await;
        let want: Vec<i64> = (0..TOTAL).filter(|i| i % ROOMS == k).collect();
        assert_eq!(seqs, want, "room f{k}: exactly every change, in order");
    }
    let all: Vec<i64> = room(&bus, "orders:all")
        .await
        .iter()
        .map(|(_, d)| d["documentKey"]["_id"].as_i64().unwrap())
        .collect();
    assert_eq!(all, (0..TOTAL).collect::<Vec<_>>());
    // The faults really re-opened the stream (the driver's resumes or the
    // router's re-opens), yet the router never lost its position.
    let aggregates = env.mongo.stats().aggregates();
    assert!(aggregates >= 3, "only {aggregates} stream (re)opens");
    assert_eq!(
        r.metric("herald_router_resyncs_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0),
        0.0,
        "{}",
        r.log_text()
    );
    assert!(r.child.try_wait().unwrap().is_none(), "the router exited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_collection_invalidates_and_the_router_restarts_after_it() {
    // RULES' scope watches the collection shop.orders.
    let env = Env::start(RULES).await;
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    orders
        .insert_one(doc! {"_id": 1, "room": "d", "seq": 1})
        .await
        .unwrap();
    wait_count(&bus, "room:d", 1).await;

    // drop → `drop` + `invalidate`; the router re-opens with startAfter.
    orders.drop().await.unwrap();
    wait_until(
        "the stream re-opened after the invalidate",
        LONG,
        || async {
            r.metric("herald_router_stream_opens_total", "scope=\"shop\"")
                .await
                .unwrap_or(0.0)
                >= 2.0
        },
    )
    .await;
    assert_eq!(checkpoint(&env).1, "1", "the invalidate is checkpointed");
    orders
        .insert_one(doc! {"_id": 2, "room": "d", "seq": 2})
        .await
        .unwrap();
    wait_count(&bus, "room:d", 2).await;
    wait_until(
        "the checkpoint to move past the invalidate",
        LONG,
        || async { checkpoint(&env).1 == "0" },
    )
    .await;

    // Again, and this time the router dies right after the invalidate: the
    // next one starts after the checkpointed invalidate token.
    orders.drop().await.unwrap();
    wait_until("the second invalidate checkpointed", LONG, || async {
        checkpoint(&env).1 == "1"
    })
    .await;
    let mut r = r;
    r.kill9();
    let r = env.router("r1", &[]);
    wait_streaming(&r).await;
    orders
        .insert_one(doc! {"_id": 3, "room": "d", "seq": 3})
        .await
        .unwrap();
    wait_count(&bus, "room:d", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seqs: Vec<i64> = room_seqs(&bus, "room:d").await;
    assert_eq!(seqs, [1, 2, 3], "each insert once, none replayed");
    let ops: Vec<String> = room(&bus, "orders:all")
        .await
        .iter()
        .map(|(_, d)| d["operationType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["insert", "insert", "insert"], "drops are not routed");
    assert_eq!(
        r.metric("herald_router_resyncs_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0),
        0.0,
        "an invalidate is not a lost position"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_is_skipped_and_counted_not_a_poison_pill() {
    let limit = ["--max-event-bytes", "2048"];
    let env = Env::start(RULES).await;
    let mut r = env.router("r1", &limit);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    orders
        .insert_one(doc! {"_id": 1, "room": "z", "seq": 1})
        .await
        .unwrap();
    wait_count(&bus, "room:z", 1).await;

    // Our own stream learns the big event's token.
    let mut watch = orders.watch().await.unwrap();
    orders
        .insert_one(doc! {"_id": 2, "room": "z", "seq": 2, "blob": "x".repeat(4096)})
        .await
        .unwrap();
    let big_token = loop {
        if let Some(ev) = watch.next_if_any().await.unwrap() {
            break match mongodb::bson::to_bson(&ev.id).unwrap() {
                mongodb::bson::Bson::Document(d) => d.get_str("_data").unwrap().to_owned(),
                other => panic!("a resume token that is not a document: {other}"),
            };
        }
    };
    drop(watch);
    wait_until("the big event to be skipped", LONG, || async {
        r.metric("herald_router_skipped_events_total", "reason=\"too_large\"")
            .await
            == Some(1.0)
    })
    .await;
    // Its token advances the checkpoint (string order = oplog order).
    wait_until("the checkpoint to pass the big event", LONG, || async {
        checkpoint(&env).0 >= big_token
    })
    .await;
    orders
        .insert_one(doc! {"_id": 3, "room": "z", "seq": 3})
        .await
        .unwrap();
    wait_count(&bus, "room:z", 2).await;

    r.kill9();
    let r = env.router("r1", &limit);
    wait_streaming(&r).await;
    orders
        .insert_one(doc! {"_id": 4, "room": "z", "seq": 4})
        .await
        .unwrap();
    wait_count(&bus, "room:z", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seqs: Vec<i64> = room_seqs(&bus, "room:z").await;
    assert_eq!(seqs, [1, 3, 4], "the big one is skipped, the rest flows");
    let all: Vec<i64> = room(&bus, "orders:all")
        .await
        .iter()
        .map(|(_, d)| d["documentKey"]["_id"].as_i64().unwrap())
        .collect();
    assert_eq!(all, [1, 3, 4]);
    assert_eq!(
        r.metric("herald_router_skipped_events_total", "reason=\"too_large\"")
            .await
            .unwrap_or(0.0),
        0.0,
        "the restarted router does not read the big event again"
    );
}
