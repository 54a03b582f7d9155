//! The router on a real local 3-master Redis Cluster (`--redis-cluster` and
//! seed URLs): bus, leases and checkpoints all go through the cluster-aware
//! connection. A live bus subscriber gets every insert exactly once and in
//! order, also across a `kill -9` of the leader and a standby's takeover.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::time::Duration;

use mongodb::bson::doc;
use tokio::time::Instant;

use support::cluster::{ClusterEnv, Collector};
use support::{RULES, RouterProc, wait_until};

const LONG: Duration = Duration::from_secs(60);

async fn wait_leading(r: &RouterProc) {
    wait_until("the router to lead and stream", LONG, || async {
        r.metric("herald_router_stream_opens_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
}

/// The `seq` of each message delivered live to `room`, and whether the
/// bus offsets are consecutive from 1 (no gap, no repeat).
fn delivered(sink: &Collector, room: &str) -> (Vec<i64>, bool) {
    let msgs = sink.room(room);
    let seqs = msgs
        .iter()
        .map(|m| m.data.to_value()["seq"].as_i64().unwrap_or(-1))
        .collect();
    let consecutive = msgs.iter().zip(1u64..).all(|(m, want)| m.offset == want);
    (seqs, consecutive)
}

async fn wait_delivered(sink: &Collector, room: &str, n: usize) {
    wait_until(&format!("{n} deliveries to {room}"), LONG, || async {
        sink.room(room).len() >= n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_reach_a_subscriber_exactly_once_and_in_order_on_a_cluster() {
    const ROOMS: i64 = 4;
    const TOTAL: i64 = 400;
    let env = ClusterEnv::start(RULES).await;
    let names: Vec<String> = (0..ROOMS).map(|k| format!("room:c{k}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_sub, sink) = env.subscriber(&refs).await;
    let r = env.router("r1", &["--checkpoint-interval-ms", "200"]);
    wait_leading(&r).await;
    let orders = env.orders().await;
    let started = Instant::now();
    for i in 0..TOTAL {
        orders
            .insert_one(doc! {"_id": i, "room": format!("c{}", i % ROOMS), "seq": i})
            .await
            .unwrap();
    }
    for name in &names {
        wait_delivered(&sink, name, (TOTAL / ROOMS) as usize).await;
    }
    let took = started.elapsed();
    eprintln!("measured: {TOTAL} inserts delivered on the cluster in {took:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (k, name) in names.iter().enumerate() {
        let (seqs, consecutive) = delivered(&sink, name);
        let want: Vec<i64> = (0..TOTAL).filter(|i| i % ROOMS == k as i64).collect();
        assert_eq!(seqs, want, "{name}: every insert once, in order");
        assert!(consecutive, "{name}: offsets 1, 2, 3, ...");
    }
    // The router's keys live on the cluster, in one slot per scope.
    let bus = env.verifier().await;
    let hist = support::room(&bus, "orders:all").await;
    assert_eq!(hist.len(), TOTAL as usize);
    let node = env
        .redis
        .nodes
        .iter()
        .find(|n| {
            support::redis::cli(n.port, &["EXISTS", "herald:router:{shop}:checkpoint"]).trim()
                == "1"
        })
        .expect("a master holds the checkpoint");
    for key in ["herald:router:{shop}:lease", "herald:router:{shop}:fence"] {
        assert_eq!(
            support::redis::cli(node.port, &["EXISTS", key]).trim(),
            "1",
            "{key} is in the checkpoint's slot"
        );
    }
    assert!(r.log_text().contains("leading scope"), "{}", r.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_hands_over_to_a_standby_without_loss_or_duplicates_on_a_cluster() {
    const ROOMS: i64 = 4;
    const TOTAL: i64 = 600;
    let lease = ["--lease-ms", "1000", "--checkpoint-interval-ms", "200"];
    let env = ClusterEnv::start(RULES).await;
    let names: Vec<String> = (0..ROOMS).map(|k| format!("room:h{k}")).collect();
    let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
    refs.push("orders:all");
    let (_sub, sink) = env.subscriber(&refs).await;
    let mut r1 = env.router("r1", &lease);
    wait_leading(&r1).await;
    let r2 = env.router("r2", &lease);
    wait_until("r2 standing by", LONG, || async {
        r2.metric("herald_router_leader", "scope=\"shop\"").await == Some(0.0)
    })
    .await;
    let orders = env.orders().await;
    let writer = tokio::spawn(async move {
        for i in 0..TOTAL {
            orders
                .insert_one(doc! {"_id": i, "room": format!("h{}", i % ROOMS), "seq": i})
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !writer.is_finished(),
        "the kill must come during the inserts"
    );
    r1.kill9();
    let killed = Instant::now();
    wait_until("r2 to lead", Duration::from_secs(10), || async {
        r2.metric("herald_router_leader", "scope=\"shop\"").await == Some(1.0)
    })
    .await;
    let took = killed.elapsed();
    eprintln!("measured: takeover on the cluster in {took:?}");
    assert!(
        took <= Duration::from_millis(2000 + 500),
        "takeover took {took:?}, over two lease periods"
    );
    writer.await.unwrap();
    for name in &names {
        wait_delivered(&sink, name, (TOTAL / ROOMS) as usize).await;
    }
    wait_delivered(&sink, "orders:all", TOTAL as usize).await;
    // Let any straggler (a duplicate) land before judging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (k, name) in names.iter().enumerate() {
        let (seqs, consecutive) = delivered(&sink, name);
        let want: Vec<i64> = (0..TOTAL).filter(|i| i % ROOMS == k as i64).collect();
        assert_eq!(seqs, want, "{name}: every insert once, in order");
        assert!(consecutive, "{name}: offsets 1, 2, 3, ...");
    }
    let all: Vec<i64> = sink
        .room("orders:all")
        .iter()
        .map(|m| m.data.to_value()["documentKey"]["_id"].as_i64().unwrap())
        .collect();
    assert_eq!(all, (0..TOTAL).collect::<Vec<_>>());
    assert!(r2.log_text().contains("resuming"), "{}", r2.log_text());
}
