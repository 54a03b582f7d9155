//! Router throughput, latency and memory, end to end: the real `mongodb`
//! driver inserting into `herald-mongo-wire`, the release `herald-router`
//! binary, a real `redis-server`, and the rooms read back through the
//! gateway's `RedisBus`.
//!
//!     cargo bench -p herald-router --bench router_throughput
//!
//! Environment: `ROUTER_BENCH_EVENTS` (default 50000), `ROUTER_BENCH_ROOMS`
//! (100), `ROUTER_BENCH_SOAK_SECS` (180; 0 skips the memory run).
//!
//! Figures printed:
//! - events/s: N inserts (`insert_many`, 1,000 per batch, as fast as the
//!   driver goes) until the last room holds its last message;
//! - `ts_ms - src_ts_ms` p50/p99/max over every stored message: the change's
//!   `wallTime` (commit) to the router building the publication (includes
//!   the wire server's `getMore` wake-up, excludes the Redis round trip);
//! - `herald_router_publish_seconds` (one pipelined batch into Redis):
//!   bucket bounds at p50/p99 and the mean;
//! - RSS at about 1,000 events/s, sampled every 5 s, with an OLS slope.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests and benchmarks drive real processes with their own tasks and the wall clock"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use herald_bus::Bus;
use herald_bus::redis::RedisBus;
use herald_protocol::RoomName;
use mongodb::bson::{Document, doc};

use support::{Env, RouterProc, metric_value};

const HISTORY: usize = support::HISTORY;

fn rules() -> String {
    r#"
[[scope]]
name = "bench"
db = "shop"
coll = "orders"

[[rule]]
name = "by_room"
scope = "bench"
ns = "shop.orders"
ops = ["insert"]
rooms = ["room:{fullDocument.room}"]
event = "order:new"
payload = "full_document"
"#
    .to_owned()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn router(env: &Env) -> RouterProc {
    let args: Vec<String> = [
        "--mongo",
        &env.mongo.uri(),
        "--redis",
        &env.redis.url(),
        "--rules",
        &env.rules.display().to_string(),
        "--router-id",
        "bench",
        "--history-size",
        &HISTORY.to_string(),
        "--bus-shards",
        "8",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    RouterProc::spawn(&args, &env.dir.path().join("router.log"))
}

async fn wait_for(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn room_len(bus: &RedisBus, room: &str) -> u64 {
    let name = RoomName::new(room).unwrap();
    bus.history(&name, None, 1)
        .await
        .map(|h| h.offset)
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Upper bucket bounds at `p` of a Prometheus histogram in `text`.
fn histogram_quantile(text: &str, name: &str, p: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let v: f64 = l.rsplit_once(' ')?.1.parse().ok()?;
            Some((le, v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    buckets
        .iter()
        .find(|(_, c)| *c >= total * p)
        .map(|(le, _)| *le)
}

async fn throughput(env: &Env, r: &RouterProc, bus: &RedisBus, n: usize, rooms: usize) {
    let orders = env.orders().await;
    let docs: Vec<Vec<Document>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(|c| {
            c.iter()
                .map(|&i| {
                    doc! {"_id": i as i64, "room": format!("r{}", i % rooms),
                    "seq": i as i64, "total": 12.5, "status": "paid"}
                })
                .collect()
        })
        .collect();
    let last_room = format!("room:r{}", (n - 1) % rooms);
    let per_room = (n / rooms) as u64 + u64::from((n - 1) % rooms < n % rooms);
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        for batch in docs {
            orders.insert_many(batch).await.unwrap();
        }
        Instant::now()
    });
    wait_for(
        "the router to read every event",
        Duration::from_secs(600),
        async || {
            r.metric("herald_router_events_total", "op=\"insert\"")
                .await
                .unwrap_or(0.0)
                >= n as f64
        },
    )
    .await;
    wait_for(
        "the last room to fill",
        Duration::from_secs(60),
        async || room_len(bus, &last_room).await >= per_room,
    )
    .await;
    let elapsed = start.elapsed();
    let wrote = writer.await.unwrap() - start;

    let mut lat = Vec::with_capacity(n);
    let mut stored = 0usize;
    for k in 0..rooms {
        let name = RoomName::new(&format!("room:r{k}")).unwrap();
        let h = bus.history(&name, None, HISTORY).await.unwrap();
        stored += h.messages.len();
        for m in &h.messages {
            if let Some(src) = m.src_ts_ms {
                lat.push(m.ts_ms.saturating_sub(src));
            }
        }
    }
    assert_eq!(stored, n, "every event stored exactly once");
    lat.sort_unstable();
    let text = r.metrics().await;
    let sum = metric_value(&text, "herald_router_publish_seconds_sum", "").unwrap_or(0.0);
    let count = metric_value(&text, "herald_router_publish_seconds_count", "").unwrap_or(0.0);
    println!("== throughput: {n} inserts (insert_many x1000) into {rooms} rooms");
    println!(
        "inserts done in {:.3} s; last room complete at {:.3} s",
        wrote.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "events/s end to end: {:.0}",
        n as f64 / elapsed.as_secs_f64()
    );
    println!(
        "commit -> publication (ts_ms - src_ts_ms) over {} messages: p50 {} ms, p99 {} ms, max {} ms",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0)
    );
    println!(
        "herald_router_publish_seconds: {count} batches, mean {:.3} ms, p50 <= {:?} s, p99 <= {:?} s",
        if count > 0.0 { sum / count * 1e3 } else { 0.0 },
        histogram_quantile(&text, "herald_router_publish_seconds", 0.50),
        histogram_quantile(&text, "herald_router_publish_seconds", 0.99),
    );
}

async fn soak(env: &Env, r: &RouterProc, bus: &RedisBus, secs: u64, first_id: i64, rooms: usize) {
    let orders = env.orders().await;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut next_sample = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut id = first_id;
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let batch: Vec<Document> = (0..100)
            .map(|_| {
                id += 1;
                doc! {"_id": id, "room": format!("r{}", id as usize % rooms), "seq": id, "total": 12.5}
            })
            .collect();
        orders.insert_many(batch).await.unwrap();
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(5);
            if let Some(rss) = r.metric("process_resident_memory_bytes", "").await {
                samples.push((start.elapsed().as_secs_f64(), rss / 1e6));
            }
        }
    }
    let n = samples.len() as f64;
    let (mx, my) = samples
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxy: f64 = samples.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = samples.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let slope = if sxx > 0.0 { sxy / sxx * 3600.0 } else { 0.0 };
    let sent = id - first_id;
    // Router-added latency when not saturated: every soak message.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat = Vec::new();
    for k in 0..rooms {
        let name = RoomName::new(&format!("room:r{k}")).unwrap();
        let h = bus.history(&name, None, HISTORY).await.unwrap();
        for m in &h.messages {
            let seq = m.data.to_value()["seq"].as_i64().unwrap_or(0);
            if let (true, Some(src)) = (seq > first_id, m.src_ts_ms) {
                lat.push(m.ts_ms.saturating_sub(src));
            }
        }
    }
    lat.sort_unstable();
    println!("== memory: {sent} inserts over {secs} s (~1000/s)");
    println!(
        "RSS MB: first {:.1}, last {:.1}, min {:.1}, max {:.1} ({} samples); OLS slope {slope:+.2} MB/hour",
        samples.first().map_or(0.0, |s| s.1),
        samples.last().map_or(0.0, |s| s.1),
        samples.iter().map(|s| s.1).fold(f64::INFINITY, f64::min),
        samples.iter().map(|s| s.1).fold(0.0, f64::max),
        samples.len()
    );
    println!(
        "commit -> publication at ~1000/s over {} messages: p50 {} ms, p99 {} ms, max {} ms",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: build only.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_usize("ROUTER_BENCH_EVENTS", 50_000);
    let rooms = env_usize("ROUTER_BENCH_ROOMS", 100);
    let soak_secs = env_usize("ROUTER_BENCH_SOAK_SECS", 180) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let env = Env::start(&rules()).await;
        let r = router(&env);
        wait_for(
            "the change stream to open",
            Duration::from_secs(60),
            async || {
                r.metric("herald_router_stream_opens_total", "scope=\"bench\"")
                    .await
                    .unwrap_or(0.0)
                    >= 1.0
            },
        )
        .await;
        let bus = env.verifier().await;
        throughput(&env, &r, &bus, n, rooms).await;
        if soak_secs > 0 {
            soak(&env, &r, &bus, soak_secs, n as i64, rooms).await;
        }
    });
}
