//! The publisher: sends numbered, timestamped messages to the rooms at a
//! fixed rate through the gateways' HTTP batch API.
//!
//! Room `i` is always published through admin URL `i % admins`, and each
//! admin has at most one batch in flight, so a room's sequence numbers
//! reach the bus in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::scenarios::rooms::room_name;
use crate::worker::unix_nanos;

/// The most messages in one batch request.
pub const MAX_BATCH: usize = 1000;

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Admin base URLs (`http://host:port`).
    pub admins: Vec<String>,
    /// Bearer key, if the gateways need one.
    pub api_key: Option<String>,
    /// How many rooms, named `prefix` + index.
    pub rooms: usize,
    /// Room name prefix.
    pub prefix: String,
    /// The event name.
    pub event: String,
    /// Messages per second, across all rooms.
    pub rate: f64,
    /// Padding bytes per payload.
    pub payload_bytes: usize,
    /// How often a batch goes out.
    pub tick: Duration,
}

/// What the publisher did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublisherStats {
    /// Messages accepted by a gateway.
    pub sent: u64,
    /// Messages refused or lost to a failed request.
    pub errors: u64,
    /// Batch requests made.
    pub batches: u64,
    /// Messages accepted per room index.
    #[serde(skip)]
    pub per_room: Vec<u64>,
    /// The first error seen, to tell the user.
    pub first_error: Option<String>,
}

/// A running publisher.
#[derive(Debug)]
pub struct Publisher {
    stop: watch::Sender<bool>,
    task: JoinHandle<PublisherStats>,
    /// Messages accepted so far (for progress display).
    pub sent: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct BatchReply {
    results: Vec<Value>,
}

impl Publisher {
    /// Starts publishing now.
    pub fn start(cfg: PublisherConfig) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let sent = Arc::new(AtomicU64::new(0));
        #[expect(
            clippy::disallowed_methods,
            reason = "the publisher owns the handle; `stop` awaits the task"
        )]
        let task = tokio::spawn(run(cfg, stop_rx, sent.clone()));
        Self { stop, task, sent }
    }

    /// Stops and returns what was published.
    pub async fn stop(self) -> PublisherStats {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_else(|e| PublisherStats {
            first_error: Some(format!("publisher task failed: {e}")),
            errors: 1,
            ..PublisherStats::default()
        })
    }
}

/// The payload for sequence `seq`: `{"seq", "ts_ns", "pad"}`.
pub fn payload(seq: u64, pad: &str) -> Value {
    json!({ "seq": seq, "ts_ns": unix_nanos(), "pad": pad })
}

async fn run(
    cfg: PublisherConfig,
    mut stop: watch::Receiver<bool>,
    sent: Arc<AtomicU64>,
) -> PublisherStats {
    let mut stats = PublisherStats {
        per_room: vec![0; cfg.rooms],
        ..PublisherStats::default()
    };
    if cfg.rate <= 0.0 || cfg.rooms == 0 || cfg.admins.is_empty() {
        return stats;
    }
    let http = reqwest::Client::new();
    let pad = "x".repeat(cfg.payload_bytes);
    let names: Vec<String> = (0..cfg.rooms as u32)
        .map(|i| room_name(&cfg.prefix, i))
        .collect();
    // Next sequence number per room (seq = messages assigned so far + 1).
    let mut next_seq = vec![1u64; cfg.rooms];
    let mut next_room = 0usize;
    let mut assigned = 0u64;
    let start = Instant::now();
    let mut tick = tokio::time::interval(cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let due = (start.elapsed().as_secs_f64() * cfg.rate) as u64;
        let n = due
            .saturating_sub(assigned)
            .min((cfg.rate * 5.0).max(1.0) as u64);
        if n == 0 {
            continue;
        }
        // Group this tick's messages by admin URL, in order.
        let mut per_admin: Vec<Vec<(usize, u64)>> = vec![Vec::new(); cfg.admins.len()];
        for _ in 0..n {
            let room = next_room;
            next_room = (next_room + 1) % cfg.rooms;
            per_admin[room % cfg.admins.len()].push((room, next_seq[room]));
            next_seq[room] += 1;
        }
        assigned += n;
        let sends = per_admin
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(a, msgs)| {
                let http = &http;
                let cfg = &cfg;
                let names = &names;
                let pad = &pad;
                async move { send_admin(http, cfg, &cfg.admins[a], names, pad, msgs).await }
            });
        for (msgs, result) in futures_util::future::join_all(sends).await {
            stats.batches += 1;
            match result {
                Ok(ok_flags) => {
                    for ((room, _), ok) in msgs.iter().zip(ok_flags) {
                        if ok {
                            stats.sent += 1;
                            stats.per_room[*room] += 1;
                            sent.fetch_add(1, Relaxed);
                        } else {
                            stats.errors += 1;
                        }
                    }
                }
                Err(e) => {
                    stats.errors += msgs.len() as u64;
                    stats.first_error.get_or_insert(e);
                }
            }
        }
    }
    stats
}

/// Sends `msgs` to one admin in batches; returns per-message success.
async fn send_admin(
    http: &reqwest::Client,
    cfg: &PublisherConfig,
    admin: &str,
    names: &[String],
    pad: &str,
    msgs: Vec<(usize, u64)>,
) -> (Vec<(usize, u64)>, Result<Vec<bool>, String>) {
    let result = send_batches(http, cfg, admin, names, pad, &msgs).await;
    (msgs, result)
}

async fn send_batches(
    http: &reqwest::Client,
    cfg: &PublisherConfig,
    admin: &str,
    names: &[String],
    pad: &str,
    msgs: &[(usize, u64)],
) -> Result<Vec<bool>, String> {
    let url = format!("{}/api/publish/batch", admin.trim_end_matches('/'));
    let mut flags = Vec::with_capacity(msgs.len());
    for chunk in msgs.chunks(MAX_BATCH) {
        let body = json!({
            "messages": chunk.iter().map(|(room, seq)| json!({
                "room": names[*room], "event": cfg.event, "data": payload(*seq, pad),
            })).collect::<Vec<_>>()
        });
        let mut req = http.post(&url).json(&body).timeout(Duration::from_secs(10));
        if let Some(key) = &cfg.api_key {
            req = req.bearer_auth(key);
        }
        let reply = match req.send().await {
            Ok(r) if r.status().is_success() => r
                .json::<BatchReply>()
                .await
                .map_err(|e| format!("{url}: {e}")),
            Ok(r) => Err(format!("{url}: HTTP {}", r.status())),
            Err(e) => Err(format!("{url}: {e}")),
        };
        match reply {
            Ok(r) if r.results.len() == chunk.len() => {
                flags.extend(
                    r.results
                        .iter()
                        .map(|v| v.get("error").is_none() && v.get("offset").is_some()),
                );
            }
            Ok(r) => {
                return Err(format!(
                    "{url}: {} results for {} messages",
                    r.results.len(),
                    chunk.len()
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_sequence_time_and_padding() {
        let before = unix_nanos();
        let p = payload(7, "xxxx");
        assert_eq!(p["seq"], 7);
        assert!(p["ts_ns"].as_u64().unwrap() >= before);
        assert_eq!(p["pad"].as_str().unwrap().len(), 4);
    }
}
