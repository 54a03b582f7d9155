//! A dead stream position (286 ChangeStreamHistoryLost) from `getMore` or
//! from `aggregate`, through the real `mongodb` driver against
//! `herald-mongo-wire`: the router resyncs once from a fresh stream, never
//! reopens at the dead position (the server's command log proves it), sends
//! the resync signal before the fresh state, and does not spin.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::time::Duration;

use herald_bus::redis::RedisBus;
use herald_mongo_wire::FailCommand;
use herald_mongo_wire::stats::{CommandRecord, Stats};
use mongodb::bson::doc;
use serde_json::{Value, json};

use support::{Env, RULES, RouterProc, room, wait_until};

const LONG: Duration = Duration::from_secs(60);
const LOST: &[&str] = &["NonResumableChangeStreamError"];

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

async fn resyncs(r: &RouterProc) -> f64 {
    r.metric("herald_router_resyncs_total", "scope=\"shop\"")
        .await
        .unwrap_or(0.0)
}

/// The commands after the first one answered with 286: where the position died.
fn after_loss(stats: &Stats) -> (CommandRecord, Vec<CommandRecord>) {
    let at = stats
        .log
        .iter()
        .position(|r| r.error_code == Some(286))
        .expect("a command answered with 286");
    (stats.log[at].clone(), stats.log[at + 1..].to_vec())
}

/// After the loss, every `aggregate` starts from now: no `resumeAfter`,
/// `startAfter` or `startAtOperationTime` of the dead position (or any).
fn assert_no_reopen_at_the_dead_position(after: &[CommandRecord]) {
    let aggregates: Vec<&CommandRecord> = after.iter().filter(|r| r.name == "aggregate").collect();
    assert!(!aggregates.is_empty(), "no fresh stream was opened");
    for a in &aggregates {
        assert!(
            !a.has_resume_args(),
            "an aggregate after the loss resumed: {a:?} (all after the loss: {aggregates:?})"
        );
    }
}

/// `room`'s messages from `from` on are exactly one resync signal (reason
/// `history_lost`) followed by the fresh state `fresh` (payloads).
fn assert_signal_then_fresh(msgs: &[(String, Value)], from: usize, fresh: &[Value]) {
    let signals: Vec<usize> = msgs
        .iter()
        .enumerate()
        .filter(|(_, (e, _))| e == "herald:resync")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        signals,
        [from],
        "exactly one signal, right after the old state: {msgs:?}"
    );
    assert_eq!(msgs[from].1["reason"], json!("history_lost"));
    let got: Vec<&Value> = msgs[from + 1..].iter().map(|(_, d)| d).collect();
    let want: Vec<&Value> = fresh.iter().collect();
    assert_eq!(got, want, "the fresh state comes after the signal");
}

/// Two documents in two rooms, routed; returns the verifier.
async fn seed(env: &Env) -> std::sync::Arc<RedisBus> {
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
    wait_count(&bus, "room:a", 1).await;
    wait_count(&bus, "room:b", 1).await;
    wait_count(&bus, "orders:all", 2).await;
    bus
}

/// After the resync: quiet for 3 s (one fresh stream, no reopen), then a
/// live change flows after the fresh state.
async fn reads_on_without_spinning(env: &Env, r: &RouterProc, bus: &RedisBus) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, after) = after_loss(&env.mongo.stats());
    let aggregates = after.iter().filter(|c| c.name == "aggregate").count();
    assert_eq!(
        aggregates, 1,
        "one fresh stream in 3 s, no reopen: {after:?}"
    );
    assert_no_reopen_at_the_dead_position(&after);
    let orders = env.orders().await;
    orders
        .insert_one(doc! {"_id": 4, "room": "a", "v": 9})
        .await
        .unwrap();
    wait_until("a live change after the resync", LONG, || async {
        room(bus, "room:a")
            .await
            .last()
            .is_some_and(|(_, d)| d["_id"] == json!(4))
    })
    .await;
    assert_eq!(resyncs(r).await, 1.0, "{}", r.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_286_from_get_more_resyncs_once_from_a_fresh_stream_signal_first() {
    let env = Env::start(RULES).await;
    let r = env.router("r1", &["--checkpoint-interval-ms", "0"]);
    wait_streaming(&r).await;
    let bus = seed(&env).await;
    env.mongo.reset_stats();
    // The next getMore waits 2 s, then fails with 286 and the history is
    // gone: the update made meanwhile is never in the stream, only in the
    // collection.
    env.mongo.fail_commands(Some(FailCommand {
        commands: vec!["getMore".into()],
        times: Some(1),
        error_code: Some(286),
        error_labels: LOST.iter().map(|s| (*s).to_owned()).collect(),
        close_connection: false,
        block: Some(Duration::from_secs(2)),
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.orders()
        .await
        .update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();
    wait_until("the resync signal in room:b", LONG, || async {
        room(&bus, "room:b")
            .await
            .iter()
            .any(|(e, _)| e == "herald:resync")
    })
    .await;
    let (lost, after) = after_loss(&env.mongo.stats());
    assert_eq!(lost.name, "getMore");
    assert_no_reopen_at_the_dead_position(&after);
    wait_count(&bus, "room:a", 3).await;
    wait_count(&bus, "room:b", 3).await;
    assert_signal_then_fresh(
        &room(&bus, "room:a").await,
        1,
        &[json!({"_id": 1, "room": "a", "v": 2})],
    );
    assert_signal_then_fresh(
        &room(&bus, "room:b").await,
        1,
        &[json!({"_id": 2, "room": "b", "v": 1})],
    );
    wait_count(&bus, "orders:all", 5).await;
    let all = room(&bus, "orders:all").await;
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[2].0, "herald:resync", "{all:?}");
    let fresh: Vec<(Value, Value)> = all[3..]
        .iter()
        .map(|(_, d)| {
            (
                d["documentKey"]["_id"].clone(),
                d["fullDocument"]["v"].clone(),
            )
        })
        .collect();
    assert_eq!(fresh, [(json!(1), json!(2)), (json!(2), json!(1))]);
    reads_on_without_spinning(&env, &r, &bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_286_from_the_resuming_aggregate_resyncs_without_reopening_the_dead_token() {
    let env = Env::start(RULES).await;
    let r = env.router("r1", &["--checkpoint-interval-ms", "0"]);
    wait_streaming(&r).await;
    let bus = seed(&env).await;
    env.mongo.reset_stats();
    // The driver's own resume (after a network error) is refused with 286.
    env.mongo.fail_commands(Some(FailCommand {
        commands: vec!["aggregate".into()],
        times: Some(1),
        error_code: Some(286),
        error_labels: LOST.iter().map(|s| (*s).to_owned()).collect(),
        close_connection: false,
        block: None,
    }));
    for _ in 0..40 {
        if env
            .mongo
            .stats()
            .log
            .iter()
            .any(|c| c.error_code == Some(286))
        {
            break;
        }
        env.mongo.drop_connections();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let stats = env.mongo.stats();
    let (lost, after) = after_loss(&stats);
    assert_eq!(lost.name, "aggregate");
    assert!(
        lost.has_resume_args(),
        "the driver's resume was refused: {:?}",
        stats.log
    );
    wait_until("the resync signal in room:b", LONG, || async {
        room(&bus, "room:b")
            .await
            .iter()
            .any(|(e, _)| e == "herald:resync")
    })
    .await;
    let (_, after_signal) = after_loss(&env.mongo.stats());
    assert!(after_signal.len() >= after.len());
    assert_no_reopen_at_the_dead_position(&after_signal);
    wait_count(&bus, "room:a", 3).await;
    assert_signal_then_fresh(
        &room(&bus, "room:a").await,
        1,
        &[json!({"_id": 1, "room": "a", "v": 1})],
    );
    reads_on_without_spinning(&env, &r, &bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lost_again_and_again_backs_off_instead_of_spinning() {
    let env = Env::start(RULES).await;
    let r = env.router("r1", &["--checkpoint-interval-ms", "0"]);
    wait_streaming(&r).await;
    let bus = seed(&env).await;
    env.mongo.reset_stats();
    // Every getMore fails with 286 (and loses the history) for 4 s.
    env.mongo.fail_commands(Some(FailCommand {
        commands: vec!["getMore".into()],
        times: None,
        error_code: Some(286),
        error_labels: LOST.iter().map(|s| (*s).to_owned()).collect(),
        close_connection: false,
        block: None,
    }));
    tokio::time::sleep(Duration::from_secs(4)).await;
    env.mongo.clear_faults();
    let stats = env.mongo.stats();
    let aggregates = stats.aggregates();
    let n = resyncs(&r).await;
    eprintln!("measured: {aggregates} aggregates, {n} resyncs in 4 s of lost history");
    assert!(
        (2..=8).contains(&aggregates),
        "{aggregates} aggregates in 4 s of lost history (backoff 0, 0.1, 0.2, 0.4, 0.8, 1.6 s)"
    );
    assert!((2.0..=8.0).contains(&n), "{n} resyncs");
    let (_, after) = after_loss(&stats);
    assert_no_reopen_at_the_dead_position(&after);
    // Once the history stays, it reads on.
    let orders = env.orders().await;
    orders
        .insert_one(doc! {"_id": 5, "room": "a", "v": 1})
        .await
        .unwrap();
    wait_until("a live change after the faults", LONG, || async {
        room(&bus, "room:a")
            .await
            .last()
            .is_some_and(|(_, d)| d["_id"] == json!(5))
    })
    .await;
}
