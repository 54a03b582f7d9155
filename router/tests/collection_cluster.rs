//! Live collections on a real local 3-master Redis Cluster: a room's set
//! and its history share the shard hash tag, so they sit on one node, and
//! what a snapshot gives equals what the change messages give, which
//! equals the collection.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::time::Duration;

use herald_bus::redis::keys::{Keys, shard_of};

use support::cluster::{ClusterEnv, SHARDS};
use support::live::{RANDOM_RULES, converged, random_rooms};
use support::ops::Workload;
use support::wait_until;

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_and_its_history_stay_in_one_slot_and_agree_on_a_cluster() {
    let env = ClusterEnv::start(RANDOM_RULES).await;
    let r = env.router("r1", &[]);
    wait_until("the router to stream", LONG, || async {
        r.metric("herald_router_stream_opens_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    let orders = env.orders().await;
    let bus = env.verifier().await;
    let mut w = Workload::new(5, 30);
    for _ in 0..300 {
        w.step(&orders).await;
    }
    let keys = Keys::new("herald");
    for room in random_rooms() {
        converged(&bus, &orders, &room, LONG)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", r.log_text()));
        let shard = shard_of(room.room, SHARDS);
        let (set, hist) = (keys.set(shard, room.room), keys.hist(shard, room.room));
        let node = env
            .redis
            .nodes
            .iter()
            .find(|n| support::redis::cli(n.port, &["EXISTS", &set]).trim() == "1")
            .unwrap_or_else(|| panic!("a master holds {set}"));
        assert_eq!(
            support::redis::cli(node.port, &["EXISTS", &hist]).trim(),
            "1",
            "{hist} is on the node of {set}"
        );
    }
}
