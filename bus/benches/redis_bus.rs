//! Redis bus benchmarks against a throwaway local `redis-server`.
//!
//! Ignored tests, run in release mode one at a time:
//!
//! ```text
//! cargo test --release -p herald-bus --bench redis_bus -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `publish_throughput`: publications per second from one process into
//!   one Redis, through `RedisBus::publish` (pipelined batches).
//! - `publish_throughput_single_script_baseline`: the same load through the
//!   single-publication script, one `EVALSHA` per publication (the path
//!   `RedisBus::publish` took before the batch script).
//! - `read_cpu_interest_vs_every_shard`: Redis CPU spent delivering to three
//!   bus nodes that watch rooms of a few shards, versus rooms of every shard.
//!
//! Sizes come from the environment: `BENCH_PUBLICATIONS` (default 400000),
//! `BENCH_BATCH` (256), `BENCH_INFLIGHT` (8), `BENCH_ROOMS` (1000).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a benchmark times with the wall clock and owns its tasks"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herald_bus::redis::keys::{Keys, shard_of};
use herald_bus::redis::{PUBLISH_LUA, RedisBus, RedisBusConfig};
use herald_bus::{Bus, Message, Sink};
use herald_protocol::RoomName;
use herald_protocol::bus::{BusFrame, Control, Publication, encode_bus};
use herald_tests::redis::{RedisServer, cli};
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(url: String, node: &str) -> RedisBusConfig {
    RedisBusConfig {
        urls: vec![url],
        node_id: node.into(),
        command_timeout: Duration::from_secs(10),
        ..RedisBusConfig::default()
    }
}

fn publication(room: &str, n: usize) -> Publication {
    Publication {
        room: room.into(),
        event: "dashboard:update".into(),
        data: json!({ "n": n, "total": 1234.5, "region": "emea" }).into(),
        ts_ms: 1_700_000_000_000,
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
        set: None,
    }
}

/// Redis `used_cpu_sys + used_cpu_user`, seconds.
fn redis_cpu(port: u16) -> f64 {
    cli(port, &["INFO", "cpu"])
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            matches!(k, "used_cpu_sys" | "used_cpu_user")
                .then(|| v.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Publishes `total` publications over `rooms` rooms in batches of `batch`,
/// `inflight` batches at a time. Returns (seconds, Redis CPU seconds).
async fn publish_all(
    bus: &Arc<RedisBus>,
    port: u16,
    total: usize,
    batch: usize,
    inflight: usize,
    rooms: &[String],
) -> (f64, f64) {
    let next = Arc::new(AtomicU64::new(0));
    let cpu0 = redis_cpu(port);
    let started = Instant::now();
    let workers: Vec<_> = (0..inflight)
        .map(|_| {
            let bus = bus.clone();
            let next = next.clone();
            let rooms = rooms.to_vec();
            tokio::spawn(async move {
                loop {
                    let from = next.fetch_add(batch as u64, Ordering::Relaxed) as usize;
                    if from >= total {
                        break;
                    }
                    let to = (from + batch).min(total);
                    let pubs: Vec<Publication> = (from..to)
                        .map(|n| publication(&rooms[n % rooms.len()], n))
                        .collect();
                    for r in bus.publish(pubs).await {
                        r.expect("publish ok");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    (secs, redis_cpu(port) - cpu0)
}

/// The previous publishing path, kept as the baseline: one `EVALSHA` of
/// `publish.lua` per publication, a batch sent as one pipeline.
async fn publish_all_single_script(
    url: &str,
    port: u16,
    total: usize,
    batch: usize,
    inflight: usize,
    rooms: &[String],
) -> (f64, f64) {
    let client = redis::Client::open(url).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let script = redis::Script::new(PUBLISH_LUA);
    script.load_async(&mut conn.clone()).await.unwrap();
    let keys = Keys::new("herald");
    let shards = RedisBusConfig::default().shards;
    let next = Arc::new(AtomicU64::new(0));
    let cpu0 = redis_cpu(port);
    let started = Instant::now();
    let workers: Vec<_> = (0..inflight)
        .map(|_| {
            let (next, rooms, keys, mut conn) =
                (next.clone(), rooms.to_vec(), keys.clone(), conn.clone());
            let hash = script.get_hash().to_owned();
            tokio::spawn(async move {
                loop {
                    let from = next.fetch_add(batch as u64, Ordering::Relaxed) as usize;
                    if from >= total {
                        break;
                    }
                    let mut pipe = redis::pipe();
                    for n in from..(from + batch).min(total) {
                        let room = &rooms[n % rooms.len()];
                        let s = shard_of(room, shards);
                        let frame = encode_bus(&BusFrame::Publish(publication(room, n)));
                        pipe.cmd("EVALSHA")
                            .arg(&hash)
                            .arg(4)
                            .arg(keys.room(s, room))
                            .arg(keys.hist(s, room))
                            .arg(keys.stream(s))
                            .arg(keys.fence(s, ""))
                            .arg(room)
                            .arg(frame)
                            .arg(format!("r{:012x}", n))
                            .arg("")
                            .arg("")
                            .arg("")
                            .arg(100)
                            .arg(86_400)
                            .arg(100_000);
                    }
                    let _: Vec<redis::Value> = pipe.query_async(&mut conn).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    (secs, redis_cpu(port) - cpu0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn publish_throughput_single_script_baseline() {
    let redis = RedisServer::start();
    let total = env_or("BENCH_PUBLICATIONS", 400_000);
    let batch = env_or("BENCH_BATCH", 256);
    let inflight = env_or("BENCH_INFLIGHT", 8);
    let rooms: Vec<String> = (0..env_or("BENCH_ROOMS", 1000))
        .map(|i| format!("bench:{i}"))
        .collect();
    let url = redis.url();
    publish_all_single_script(&url, redis.port, rooms.len(), batch, inflight, &rooms).await;
    let (secs, cpu) =
        publish_all_single_script(&url, redis.port, total, batch, inflight, &rooms).await;
    println!(
        "publish_throughput (baseline, one EVALSHA per publication): {total} publications, \
         {} rooms, batch {batch}, {inflight} in flight: {secs:.2} s, {:.0} publications/s, \
         Redis CPU {cpu:.2} s ({:.2} us/publication)",
        rooms.len(),
        total as f64 / secs,
        cpu * 1e6 / total as f64,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn publish_throughput() {
    let redis = RedisServer::start();
    let bus = RedisBus::connect(config(redis.url(), "bench-pub"), None)
        .await
        .unwrap();
    let total = env_or("BENCH_PUBLICATIONS", 400_000);
    let batch = env_or("BENCH_BATCH", 256);
    let inflight = env_or("BENCH_INFLIGHT", 8);
    let rooms: Vec<String> = (0..env_or("BENCH_ROOMS", 1000))
        .map(|i| format!("bench:{i}"))
        .collect();
    // Warm-up: create every room once.
    publish_all(&bus, redis.port, rooms.len(), batch, inflight, &rooms).await;
    let (secs, cpu) = publish_all(&bus, redis.port, total, batch, inflight, &rooms).await;
    println!(
        "publish_throughput: {total} publications, {} rooms, batch {batch}, {inflight} in flight: \
         {secs:.2} s, {:.0} publications/s, Redis CPU {cpu:.2} s ({:.2} us/publication)",
        rooms.len(),
        total as f64 / secs,
        cpu * 1e6 / total as f64,
    );
}

/// Counts deliveries.
#[derive(Default)]
struct CountingSink {
    delivered: AtomicU64,
}

impl Sink for CountingSink {
    fn deliver(&self, _msg: Arc<Message>) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
    fn control(&self, _cmd: Control) {}
    fn resync_all(&self) {}
}

/// Rooms spread over every shard: `per_shard` rooms in each shard.
fn rooms_per_shard(shards: u32, per_shard: usize) -> Vec<Vec<String>> {
    let mut by_shard: Vec<Vec<String>> = vec![Vec::new(); shards as usize];
    let mut i = 0;
    while by_shard.iter().any(|v| v.len() < per_shard) {
        let r = format!("cpu:{i}");
        let s = shard_of(&r, shards) as usize;
        if by_shard[s].len() < per_shard {
            by_shard[s].push(r);
        }
        i += 1;
    }
    by_shard
}

/// Three nodes; each watches `watched` rooms. Publishes `total` publications
/// to every room round-robin; returns (deliveries, Redis CPU seconds, seconds).
async fn deliveries_with(
    redis: &RedisServer,
    all_rooms: &[String],
    watched: &[Vec<String>],
    total: usize,
) -> (u64, f64, f64) {
    let mut nodes = Vec::new();
    let mut sinks = Vec::new();
    for (n, rooms) in watched.iter().enumerate() {
        let bus = RedisBus::connect(config(redis.url(), &format!("bench-gw{n}")), None)
            .await
            .unwrap();
        let sink = Arc::new(CountingSink::default());
        bus.start(sink.clone()).await.unwrap();
        for r in rooms {
            bus.watch(&RoomName::new(r).unwrap()).await.unwrap();
        }
        nodes.push(bus);
        sinks.push(sink);
    }
    let publisher = RedisBus::connect(config(redis.url(), "bench-pub"), None)
        .await
        .unwrap();
    let expected: u64 = watched
        .iter()
        .map(|w| {
            (0..total)
                .filter(|n| w.contains(&all_rooms[n % all_rooms.len()]))
                .count() as u64
        })
        .sum();
    let (secs, cpu) = publish_all(&publisher, redis.port, total, 256, 8, all_rooms).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let cpu0 = redis_cpu(redis.port);
    let delivered = || {
        sinks
            .iter()
            .map(|s| s.delivered.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    while delivered() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_tail = redis_cpu(redis.port) - cpu0;
    for n in &nodes {
        n.stop();
    }
    publisher.stop();
    assert_eq!(delivered(), expected, "every watched publication delivered");
    (expected, cpu + cpu_tail, secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn read_cpu_interest_vs_every_shard() {
    let total = env_or("BENCH_PUBLICATIONS", 200_000);
    let shards = RedisBusConfig::default().shards;
    let by_shard = rooms_per_shard(shards, 4);
    let all_rooms: Vec<String> = by_shard.iter().flatten().cloned().collect();
    // Interest-based: each node watches one room in each of 4 shards.
    let few: Vec<Vec<String>> = (0..3)
        .map(|n| (0..4).map(|s| by_shard[n * 4 + s][0].clone()).collect())
        .collect();
    // Every shard: each node watches one room in every shard.
    let every: Vec<Vec<String>> = (0..3)
        .map(|n| by_shard.iter().map(|rs| rs[n % rs.len()].clone()).collect())
        .collect();
    for (name, watched) in [("interest (4 shards/node)", &few), ("every shard", &every)] {
        let redis = RedisServer::start();
        let idle0 = redis_cpu(redis.port);
        let (deliveries, cpu, secs) = deliveries_with(&redis, &all_rooms, watched, total).await;
        println!(
            "read_cpu [{name}]: {total} publications over {} rooms in {shards} shards, \
             3 nodes, {deliveries} deliveries; publish phase {secs:.2} s; Redis CPU {cpu:.2} s \
             ({:.2} us/publication); since server start {:.2} s",
            all_rooms.len(),
            cpu * 1e6 / total as f64,
            redis_cpu(redis.port) - idle0,
        );
    }
}
