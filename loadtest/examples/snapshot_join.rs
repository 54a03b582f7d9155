//! Snapshot latency of a live collection when many subscribers join at
//! once: `N` WebSocket clients connect (at `--connect-rate`), wait, then all
//! send `subscribe` in the same instant; each measures from its send to the
//! arrival of the room's first message (for a live collection its
//! `herald:snapshot`; for a plain room its latest message), and every
//! 100th counts the snapshot's documents.
//!
//! ```text
//! herald-gateway --standalone &                       # the demo's orders:live (50 orders)
//! cargo run --release -p herald-loadtest --example snapshot_join -- \
//!     --url ws://127.0.0.1:8080/ws --clients 10000 --room orders:live
//! ```
//!
//! Prints the latency percentiles and the document counts seen. Its own
//! process holds every client socket: keep `--clients` under the open-file
//! cap (20,000 here).

#![allow(clippy::print_stdout, reason = "a measurement prints its figures")]

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::Barrier;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::task::TaskTracker;

struct Args {
    url: String,
    clients: usize,
    room: String,
    connect_rate: f64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: "ws://127.0.0.1:8080/ws".into(),
        clients: 1000,
        room: "orders:live".into(),
        connect_rate: 2000.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = v,
            "--clients" => a.clients = v.parse()?,
            "--room" => a.room = v,
            "--connect-rate" => a.connect_rate = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

type Results = Arc<Mutex<(Histogram<u64>, Vec<usize>, usize)>>;

/// One client: connect, wait for every client, subscribe, time the
/// snapshot, then wait for every client again. Passes both waits whatever
/// happens, so one failure cannot hang the run.
async fn client(a: Arc<Args>, start: Arc<Barrier>, out: Results) {
    let ws = tokio_tungstenite::connect_async(a.url.as_str()).await;
    start.wait().await;
    let res = match ws {
        Ok((ws, _)) => timed(&a, ws, &out).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = res {
        out.lock().2 += 1;
        eprintln!("client failed: {e:#}");
    }
    start.wait().await;
}

async fn timed<S>(a: &Args, mut ws: S, out: &Results) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
        + futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    let sub = serde_json::json!({"op": "subscribe", "room": a.room}).to_string();
    let t0 = Instant::now();
    ws.send(Message::text(sub)).await?;
    let deadline = t0 + Duration::from_secs(120);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("no snapshot within 120 s")?
            .context("closed")??;
        let Message::Text(t) = msg else { continue };
        // The client must not be the bottleneck: a frame is recognised by
        // its head, and only every 100th snapshot is parsed to count its
        // documents.
        if t.starts_with(r#"{"type":"message""#) {
            let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
            let mut o = out.lock();
            o.0.record(us.max(1))?;
            if o.0.len() % 100 == 1 {
                let v: Value = serde_json::from_str(&t)?;
                let docs = v["data"]["docs"].as_array().map_or(0, Vec::len);
                o.1.push(docs);
            }
            return Ok(());
        }
        let v: Value = serde_json::from_str(&t)?;
        if v["type"] == "error" {
            bail!("error frame: {t}");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Arc::new(args()?);
    let _ = rlimit::increase_nofile_limit(u64::try_from(a.clients).unwrap_or(0) + 1000);
    let start = Arc::new(Barrier::new(a.clients + 1));
    let out: Results = Arc::new(Mutex::new((Histogram::<u64>::new(3)?, Vec::new(), 0usize)));
    let tasks = TaskTracker::new();
    let gap = Duration::from_secs_f64(1.0 / a.connect_rate.max(1.0));
    for _ in 0..a.clients {
        let (a2, s, o) = (a.clone(), start.clone(), out.clone());
        tasks.spawn(client(a2, s, o));
        tokio::time::sleep(gap).await;
    }
    // Connected: release every subscribe at once.
    let t = Instant::now();
    start.wait().await;
    start.wait().await;
    let all = t.elapsed();
    tasks.close();
    tasks.wait().await;
    let o = out.lock();
    let (h, docs, failed) = (&o.0, &o.1, o.2);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "clients {} failed {failed} | snapshot latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} | all {} snapshots in {:.2} s",
        a.clients,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        h.max() as f64 / 1000.0,
        h.len(),
        all.as_secs_f64()
    );
    let (min, max) = (
        docs.iter().min().copied().unwrap_or(0),
        docs.iter().max().copied().unwrap_or(0),
    );
    println!("documents per snapshot (every 100th): min {min} max {max}");
    Ok(())
}
