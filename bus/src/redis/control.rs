//! The control stream: cluster-wide commands, presence queries, node heartbeats.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_protocol::bus::presence::{MAX_PRESENCE_ROOMS, MAX_PRESENCE_USERS};
use herald_protocol::bus::{
    BusFrame, NodeHeartbeat, PresenceQuery, PresenceReply, decode_bus, encode_bus,
};
use parking_lot::Mutex;
use redis::Value;
use tokio::sync::mpsc;

use super::scripts::bytes_of;
use super::state::Shared;
use crate::BusError;

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unavailable(e: redis::RedisError) -> BusError {
    BusError::caused("Redis command failed", e)
}

/// Adds a frame to the control stream.
///
/// # Errors
/// [`BusError::Unavailable`] when Redis did not take it.
pub async fn append(shared: &Shared, frame: Vec<u8>) -> Result<(), BusError> {
    let mut conn = shared.conn();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(shared.keys.control())
        .arg("MAXLEN")
        .arg("~")
        .arg(shared.config.control_maxlen)
        .arg("*")
        .arg("f")
        .arg(frame);
    let add = cmd.query_async::<String>(&mut conn);
    match tokio::time::timeout(shared.config.command_timeout, add).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(_) => Err(BusError::unavailable("control append timed out")),
    }
}

/// Writes queued control frames (presence replies) one by one.
pub async fn writer(shared: Arc<Shared>, mut rx: mpsc::Receiver<Vec<u8>>) {
    loop {
        let frame = tokio::select! {
            f = rx.recv() => f,
            () = shared.cancel.cancelled() => None,
        };
        let Some(frame) = frame else { return };
        if let Err(e) = append(&shared, frame).await {
            tracing::warn!(error = %e, "bus: could not write a control frame");
        }
    }
}

/// Answers a presence query from the local counts. Every list in the
/// reply is bounded: at most [`MAX_PRESENCE_ROOMS`] rooms, and per room at
/// most [`MAX_PRESENCE_USERS`] session ids or users.
pub fn answer(shared: &Shared, q: PresenceQuery) {
    let p = shared.presence.as_deref();
    let rooms = &q.rooms[..q.rooms.len().min(MAX_PRESENCE_ROOMS)];
    let counts = rooms.iter().map(|r| p.map_or(0, |p| p.count(r))).collect();
    let sessions = if q.sessions {
        rooms
            .iter()
            .map(|r| {
                let mut s = p.map_or_else(Vec::new, |p| p.sessions(r));
                s.truncate(MAX_PRESENCE_USERS);
                s
            })
            .collect()
    } else {
        Vec::new()
    };
    let users = match q.users {
        Some(limit) => {
            let limit =
                usize::try_from(limit).map_or(MAX_PRESENCE_USERS, |n| n.min(MAX_PRESENCE_USERS));
            rooms
                .iter()
                .map(|r| p.map(|p| p.users(r, limit)).unwrap_or_default())
                .collect()
        }
        None => Vec::new(),
    };
    let reply = BusFrame::PresenceReply(PresenceReply {
        request: q.request,
        node: shared.config.node_id.clone(),
        counts,
        sessions,
        users,
    });
    if shared.control_out.try_send(encode_bus(&reply)).is_err() {
        tracing::warn!("bus: control queue full; dropping a presence reply");
    }
}

/// Routes a presence reply to the query waiting for it, if any.
pub fn reply_arrived(shared: &Shared, r: PresenceReply) {
    let request = r.request.clone();
    route(&shared.presence_waiters, &request, r);
}

/// Writes this node's heartbeat (or, with `leave`, removes it) and returns
/// the heartbeats of the live nodes.
///
/// # Errors
/// [`BusError::Unavailable`] when Redis did not answer.
pub async fn heartbeat(shared: &Shared, mode: Heartbeat) -> Result<Vec<NodeHeartbeat>, BusError> {
    let frame: Vec<u8> = match mode {
        Heartbeat::Beat => encode_bus(&BusFrame::Heartbeat(NodeHeartbeat {
            node: shared.config.node_id.clone(),
            ts_ms: now_ms(),
            connections: shared.presence.as_ref().map_or(0, |p| p.connections()),
            rooms: shared.watched_rooms(),
        })),
        Heartbeat::Leave => Vec::new(),
        Heartbeat::List => b"?".to_vec(),
    };
    let mut conn = shared.conn();
    let mut inv = shared.scripts.heartbeat.prepare_invoke();
    inv.key(shared.keys.nodes())
        .key(shared.keys.node_info())
        .arg(&shared.config.node_id)
        .arg(frame)
        .arg(u64::try_from(shared.config.node_ttl.as_millis()).unwrap_or(u64::MAX));
    let run = inv.invoke_async::<Vec<Value>>(&mut conn);
    let values = match tokio::time::timeout(shared.config.command_timeout, run).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(unavailable(e)),
        Err(_) => return Err(BusError::unavailable("heartbeat timed out")),
    };
    Ok(values
        .iter()
        .filter_map(bytes_of)
        .filter_map(|b| match decode_bus(b) {
            Ok(BusFrame::Heartbeat(h)) => Some(h),
            _ => None,
        })
        .collect())
}

/// What [`heartbeat`] does besides listing.
#[derive(Debug, Clone, Copy)]
pub enum Heartbeat {
    /// Announce this node.
    Beat,
    /// Remove this node.
    Leave,
    /// Only list.
    List,
}

/// Open requests by id, each with the channel its replies go to.
pub type Waiters<T> = Mutex<HashMap<String, mpsc::Sender<T>>>;

/// A cluster-wide request's reply channel, registered in a [`Waiters`]
/// map and removed when the request ends, however it ends.
pub struct Waiter<'a, T> {
    /// The registry.
    map: &'a Waiters<T>,
    /// The request id.
    pub request: String,
    /// The replies.
    rx: mpsc::Receiver<T>,
}

impl<'a, T> Waiter<'a, T> {
    /// Registers a fresh request id of `node` with room for `capacity` replies.
    pub fn register(map: &'a Waiters<T>, node: &str, capacity: usize) -> Self {
        let request = format!("{node}-{:016x}", rand::random::<u64>());
        let (tx, rx) = mpsc::channel(capacity.max(1));
        map.lock().insert(request.clone(), tx);
        Self { map, request, rx }
    }

    /// Receives replies until each node in `expected` answered once or
    /// `deadline` passed; a node's repeated replies are dropped.
    pub async fn gather(
        &mut self,
        expected: &HashSet<String>,
        deadline: tokio::time::Instant,
        node_of: impl Fn(&T) -> &str,
    ) -> Vec<T> {
        let mut answered: HashSet<String> = HashSet::new();
        let mut replies = Vec::new();
        while !expected.iter().all(|n| answered.contains(n)) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(r)) => {
                    if answered.insert(node_of(&r).to_owned()) {
                        replies.push(r);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        if replies.len() < expected.len() {
            tracing::debug!(
                answered = replies.len(),
                expected = expected.len(),
                "cluster request timed out"
            );
        }
        replies
    }
}

impl<T> Drop for Waiter<'_, T> {
    fn drop(&mut self) {
        self.map.lock().remove(&self.request);
    }
}

/// Routes a reply to the request waiting for it, if any.
pub fn route<T>(map: &Waiters<T>, request: &str, reply: T) {
    let waiter = map.lock().get(request).cloned();
    if let Some(tx) = waiter {
        let _ = tx.try_send(reply);
    }
}

/// The ids of the live nodes (from their heartbeats).
///
/// # Errors
/// [`BusError::Unavailable`] when Redis did not answer.
pub async fn live_nodes(shared: &Shared) -> Result<HashSet<String>, BusError> {
    Ok(heartbeat(shared, Heartbeat::List)
        .await?
        .into_iter()
        .map(|h| h.node)
        .collect())
}

/// Member counts of `rooms` summed over the live nodes.
///
/// # Errors
/// [`BusError::Unavailable`] when the query could not be sent.
pub async fn room_counts(
    shared: &Shared,
    rooms: &[String],
) -> Result<HashMap<String, u64>, BusError> {
    let expected = live_nodes(shared).await?;
    let mut waiter = Waiter::register(&shared.presence_waiters, &shared.config.node_id, 64);
    let query = BusFrame::PresenceQuery(PresenceQuery {
        request: waiter.request.clone(),
        rooms: rooms.to_vec(),
        sessions: false,
        reply_to: shared.config.node_id.clone(),
        users: None,
    });
    append(shared, encode_bus(&query)).await?;
    let deadline = tokio::time::Instant::now() + shared.config.presence_timeout;
    let mut totals: HashMap<String, u64> = rooms.iter().map(|r| (r.clone(), 0)).collect();
    for reply in waiter.gather(&expected, deadline, |r| &r.node).await {
        for (room, n) in rooms.iter().zip(reply.counts) {
            if let Some(t) = totals.get_mut(room) {
                *t += n;
            }
        }
    }
    Ok(totals)
}

/// Sleeps `d` unless the bus stops first; `false` when it stopped.
pub async fn pause(shared: &Shared, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = shared.cancel.cancelled() => false,
    }
}
