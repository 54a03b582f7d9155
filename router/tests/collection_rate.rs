//! A measurement, not a check: router events per second for a live
//! collection (a top-100 window with patches and window changes) against a
//! plain room, on `herald-mongo-wire` and a local `redis-server`. The router
//! is stopped, N updates are written, the router is restarted and the time
//! until it has read and published the backlog is measured.
//!
//!     cargo nextest run -p herald-router --test collection_rate --run-ignored only --no-capture

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

mod support;

use std::time::{Duration, Instant};

use mongodb::bson::doc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use support::{Env, RouterProc, wait_until};

const DOCS: i64 = 500;
const UPDATES: usize = 20_000;

const PLAIN: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"
full_document = "updateLookup"

[[rule]]
name = "plain"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update"]
rooms = ["orders:plain"]
event = "order"
"#;

const LIVE: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"

[[collection]]
name = "top"
scope = "shop"
ns = "shop.orders"
filter = { status = "paid" }
room = "orders:top"
sort = "n"
order = "desc"
limit = 100
"#;

async fn read(r: &RouterProc, n: usize) {
    wait_until("the backlog", Duration::from_secs(600), || async {
        r.metric("herald_router_events_total", "op=\"update\"")
            .await
            .unwrap_or(0.0)
            >= n as f64
    })
    .await;
}

async fn events_per_second(rules: &str) -> f64 {
    let env = Env::start(rules).await;
    let orders = env.orders().await;
    let mut r = env.router("r1", &["--checkpoint-interval-ms", "0"]);
    wait_until("the stream", Duration::from_secs(60), || async {
        r.metric("herald_router_stream_opens_total", "scope=\"shop\"")
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    let mut rng = StdRng::seed_from_u64(1);
    for i in 0..DOCS {
        orders
            .insert_one(doc! {"_id": i, "status": if i % 2 == 0 { "paid" } else { "new" }, "n": rng.random_range(0..1_000_000_i64), "total": 1})
            .await
            .unwrap();
    }
    read(&r, 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    r.term();
    for _ in 0..UPDATES {
        let id = rng.random_range(0..DOCS);
        let u = if rng.random_bool(0.5) {
            doc! {"$set": {"n": rng.random_range(0..1_000_000_i64)}}
        } else {
            doc! {"$inc": {"total": 1}}
        };
        orders.update_one(doc! {"_id": id}, u).await.unwrap();
    }
    let started = Instant::now();
    let r = env.router("r1", &["--checkpoint-interval-ms", "1000"]);
    read(&r, UPDATES).await;
    UPDATES as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on its own"]
async fn live_collection_events_per_second_against_a_plain_room() {
    let plain = events_per_second(PLAIN).await;
    let live = events_per_second(LIVE).await;
    println!("router events/s: plain room {plain:.0}, live collection (top 100) {live:.0}");
}
