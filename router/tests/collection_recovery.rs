//! Live collections through failures: a dead stream position (286 from
//! `getMore` and from the driver's resuming `aggregate`) gives one reset
//! snapshot per collection room and no reopen at the dead token; `kill -9`s
//! of the router during a random workload leave every copy equal to the
//! collection after the restart.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::time::Duration;

use herald_mongo_wire::FailCommand;
use herald_mongo_wire::stats::{CommandRecord, Stats};
use mongodb::bson::doc;
use serde_json::Value;

use support::live::{RANDOM_RULES, converged, messages_after, random_rooms};
use support::ops::Workload;
use support::{Env, RouterProc, wait_until};

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

fn after_loss(stats: &Stats) -> Vec<CommandRecord> {
    let at = stats
        .log
        .iter()
        .position(|r| r.error_code == Some(286))
        .expect("a command answered with 286");
    stats.log[at + 1..].to_vec()
}

fn assert_no_reopen(after: &[CommandRecord]) {
    let aggregates: Vec<&CommandRecord> = after.iter().filter(|r| r.name == "aggregate").collect();
    assert!(!aggregates.is_empty(), "no fresh stream was opened");
    assert!(
        aggregates.iter().all(|a| !a.has_resume_args()),
        "an aggregate after the loss resumed: {aggregates:?}"
    );
}

/// Exactly one reset snapshot in each room's history, and nothing else
/// from the resync (no `herald:resync` signal in a collection room).
async fn one_reset_each(bus: &herald_bus::redis::RedisBus) {
    for room in random_rooms() {
        let msgs = messages_after(bus, room.room, None).await.unwrap();
        let resets: Vec<&(u64, String, Value)> = msgs
            .iter()
            .filter(|(_, e, d)| e == "herald:snapshot" && d["reset"] == Value::Bool(true))
            .collect();
        assert_eq!(resets.len(), 1, "{}: {msgs:?}", room.room);
        assert!(msgs.iter().all(|(_, e, _)| e != "herald:resync"));
    }
}

async fn lost_history(from_get_more: bool) {
    let env = Env::start(RANDOM_RULES).await;
    let r = env.router("r1", &["--checkpoint-interval-ms", "0"]);
    wait_streaming(&r).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let rooms = random_rooms();
    let mut w = Workload::new(3, 30);
    for _ in 0..120 {
        w.step(&orders).await;
    }
    for room in &rooms {
        converged(&bus, &orders, room, LONG).await.unwrap();
    }
    env.mongo.reset_stats();
    env.mongo.fail_commands(Some(FailCommand {
        commands: vec![
            if from_get_more {
                "getMore"
            } else {
                "aggregate"
            }
            .into(),
        ],
        times: Some(1),
        error_code: Some(286),
        error_labels: LOST.iter().map(|s| (*s).to_owned()).collect(),
        close_connection: false,
        block: from_get_more.then_some(Duration::from_secs(2)),
    }));
    if from_get_more {
        // Changes made while the getMore hangs never reach the stream.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..30 {
            w.step(&orders).await;
        }
    } else {
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
    }
    wait_until("a resync", LONG, || async {
        r.metric("herald_router_resyncs_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    for room in &rooms {
        converged(&bus, &orders, room, LONG)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", r.log_text()));
    }
    one_reset_each(&bus).await;
    // Quiet: one fresh stream, no reopen, no spinning; then it reads on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = after_loss(&env.mongo.stats());
    assert_no_reopen(&after);
    assert_eq!(
        after.iter().filter(|c| c.name == "aggregate").count(),
        1,
        "{after:?}"
    );
    for _ in 0..60 {
        w.step(&orders).await;
    }
    for room in &rooms {
        converged(&bus, &orders, room, LONG).await.unwrap();
    }
    assert_eq!(
        r.metric("herald_router_resyncs_total", "scope=\"shop\"")
            .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_286_from_get_more_gives_one_reset_snapshot_and_no_reopen_at_the_dead_token() {
    lost_history(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_286_from_the_resuming_aggregate_gives_one_reset_snapshot_and_no_reopen() {
    lost_history(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_random_workload_leaves_every_copy_equal_to_the_collection() {
    let env = Env::start(RANDOM_RULES).await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let rooms = random_rooms();
    let mut w = Workload::new(99, 40);
    let mut r = env.router("r1", &[]);
    wait_streaming(&r).await;
    for round in 0..6 {
        for _ in 0..120 {
            w.step(&orders).await;
        }
        // Mid-stream: some of the changes are published, some are not,
        // and the checkpoint lags behind both.
        tokio::time::sleep(Duration::from_millis(20 * round)).await;
        r.kill9();
        for _ in 0..40 {
            w.step(&orders).await;
        }
        r = env.router("r1", &[]);
        wait_streaming(&r).await;
    }
    for room in &rooms {
        converged(&bus, &orders, room, LONG)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", r.log_text()));
    }
    let dups = r.metric("herald_router_duplicates_total", "").await;
    eprintln!("duplicates dropped after the last restart: {dups:?}");
    drop(orders.find_one(doc! {}).await);
}
