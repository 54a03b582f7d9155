//! Background checks: heartbeats, data-loss markers, the liveness probe.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::join_all;
use herald_protocol::bus::Publication;
use redis::Value;

use super::control::{self, Heartbeat, now_ms, pause};
use super::publish::{self, Published};
use super::scripts::bytes_of;
use super::state::Shared;

/// Checks every shard's data marker. Returns `Ok(true)` when one vanished
/// or changed since the last check (Redis lost data).
///
/// # Errors
/// A marker could not be read.
pub async fn check_markers(shared: &Shared) -> Result<bool, redis::RedisError> {
    let checks = (0..shared.config.shards).map(|s| async move {
        let mut conn = shared.conn();
        let candidate = format!("{}-{:016x}", shared.config.node_id, rand::random::<u64>());
        let mut inv = shared.scripts.marker.prepare_invoke();
        inv.key(shared.keys.marker(s)).arg(candidate);
        let reply = inv.invoke_async::<Vec<Value>>(&mut conn).await?;
        let value = reply
            .get(1)
            .and_then(bytes_of)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Ok::<_, redis::RedisError>((s, value))
    });
    let results = tokio::time::timeout(shared.config.command_timeout, join_all(checks))
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "marker check timed out")))?;
    let mut lost = false;
    let mut markers = shared.markers.lock();
    for r in results {
        let (s, value) = r?;
        if let Some(old) = markers.insert(s, value.clone()) {
            lost |= old != value;
        }
    }
    Ok(lost)
}

/// Resets every read position to the start after data loss and tells the sink.
pub fn on_data_loss(shared: &Shared) {
    tracing::warn!(
        "bus: Redis lost Herald's data (restart without persistence or flush); resyncing"
    );
    metrics::counter!(crate::metrics::DATA_LOSS).increment(1);
    {
        let mut i = shared.interest.lock();
        i.resets += 1;
        i.control_next = "0-0".into();
        for w in i.shards.values_mut() {
            w.next_id = "0-0".into();
        }
    }
    shared.wake.notify_one();
    if let Some(sink) = shared.sink() {
        sink.resync_all();
    }
}

/// Heartbeats and marker checks every `heartbeat_interval`.
pub async fn heartbeat_loop(shared: Arc<Shared>) {
    loop {
        let beat = control::heartbeat(&shared, Heartbeat::Beat).await;
        let markers = check_markers(&shared).await;
        match (&beat, &markers) {
            (Ok(_), Ok(lost)) => {
                shared.status.commands_ok.store(true, Ordering::Relaxed);
                if *lost {
                    on_data_loss(&shared);
                }
            }
            _ => {
                shared.status.commands_ok.store(false, Ordering::Relaxed);
                let err = beat
                    .err()
                    .map(|e| e.to_string())
                    .or(markers.err().map(|e| e.to_string()));
                tracing::warn!(
                    error = err.as_deref().unwrap_or(""),
                    "bus: heartbeat failed"
                );
            }
        }
        set_up_gauge(&shared);
        if !pause(&shared, shared.config.heartbeat_interval).await {
            return;
        }
    }
}

fn set_up_gauge(shared: &Shared) {
    let up = if shared.status.ready() { 1.0 } else { 0.0 };
    metrics::gauge!("herald_gateway_bus_up").set(up);
}

/// Publishes one probe and waits for the reader to see it.
async fn probe_once(shared: &Shared) -> Result<Duration, String> {
    let started = tokio::time::Instant::now();
    let p = Publication {
        room: shared.probe_room.to_string(),
        event: "probe".into(),
        data: herald_protocol::JsonText::null(),
        ts_ms: now_ms(),
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
        set: None,
    };
    let published = publish::publish(shared, vec![p]).await.pop();
    let pos = match published {
        Some(Ok(Published::Stored(pos))) => pos,
        Some(Ok(Published::Duplicate(_))) => return Err("probe reported as duplicate".into()),
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("no publish result".into()),
    };
    let deadline = started + shared.config.probe_deadline;
    loop {
        let seen = shared
            .probe_seen
            .lock()
            .as_ref()
            .is_some_and(|(e, o)| **e == *pos.epoch && *o >= pos.offset);
        if seen {
            return Ok(started.elapsed());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "probe {}:{} not delivered in time",
                pos.epoch, pos.offset
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the liveness probe every `probe_interval`.
pub async fn probe_loop(shared: Arc<Shared>) {
    loop {
        match probe_once(&shared).await {
            Ok(rtt) => {
                shared.status.probe_ok.store(true, Ordering::Relaxed);
                metrics::histogram!("herald_bus_probe_seconds").record(rtt.as_secs_f64());
            }
            Err(why) => {
                shared.status.probe_ok.store(false, Ordering::Relaxed);
                metrics::counter!("herald_bus_probe_failures_total").increment(1);
                tracing::warn!(why, "bus liveness probe failed");
            }
        }
        set_up_gauge(&shared);
        // After a failure, probe again soon so readiness returns quickly.
        let next = if shared.status.probe_ok.load(Ordering::Relaxed) {
            shared.config.probe_interval
        } else {
            shared.config.probe_interval.min(Duration::from_millis(500))
        };
        if !pause(&shared, next).await {
            return;
        }
    }
}
