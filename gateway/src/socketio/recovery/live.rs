//! Crash-safe recovery: a recoverable socket's rooms, kept in Redis from
//! the moment it joins them, so that another gateway can recover it when
//! its own gateway dies without noticing the close (`kill -9`, a power
//! loss) and so never writes the full record.
//!
//! The record (`<prefix>:eph:sio:live:<pid>`) is written when the socket
//! joins or leaves a room, and refreshed every half recovery window; never
//! per delivery. Each room carries `since`: the offset up to which the
//! socket needs nothing of the room (its join point, before the snapshot).
//! The position within a room comes from the offset the client echoes.
//! One offset names one room, so a crash is recovered exactly when the
//! socket was in one room (the seed's `leaveAll` + `join`) or none; in
//! several rooms it is not recovered (`recovered: false`, and the client's
//! re-subscribe gets fresh snapshots), never recovered with a gap.
//!
//! Writes of one socket go out one at a time and in order, the latest
//! state replacing any not yet sent, on the store's tracked tasks.

use std::sync::Arc;
use std::time::Duration;

use herald_protocol::{Position, RoomName};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{Store, parse_offset};

/// One room of a live record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRoom {
    /// The room.
    pub room: RoomName,
    /// Its epoch when the socket joined.
    pub epoch: Arc<str>,
    /// The offset up to which the socket needs nothing of the room.
    pub since: u64,
}

/// A socket's rooms as its gateway last wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRecord {
    /// Its namespace.
    pub nsp: String,
    /// Its rooms.
    pub rooms: Vec<LiveRoom>,
}

/// The Redis key (under the bus's ephemeral prefix) of a live record.
pub(super) fn live_key(pid: &str) -> String {
    format!("sio:live:{pid}")
}

/// Each room's position as far as the client got, from a live record and
/// the offset the client echoes; `None` when that cannot be known exactly
/// (several rooms, or an offset of another room).
pub fn live_positions(rec: &LiveRecord, offset: Option<&str>) -> Option<Vec<(RoomName, Position)>> {
    let parsed = match offset {
        None => None,
        Some(s) => Some(parse_offset(s)?),
    };
    match (rec.rooms.as_slice(), parsed) {
        ([], _) => Some(Vec::new()),
        ([r], None) => Some(vec![(
            r.room.clone(),
            Position {
                epoch: r.epoch.to_string(),
                offset: r.since,
            },
        )]),
        ([r], Some(p)) if p.room == r.room.as_str() => {
            // An offset from before the socket last joined the room: it
            // needs nothing from before the join.
            let offset = if p.epoch == &*r.epoch {
                p.offset.max(r.since)
            } else {
                p.offset
            };
            Some(vec![(
                r.room.clone(),
                Position {
                    epoch: p.epoch.to_owned(),
                    offset,
                },
            )])
        }
        _ => None,
    }
}

enum Op {
    Put(Vec<u8>),
    Delete,
}

#[derive(Default)]
struct Queue {
    next: Option<Op>,
    running: bool,
}

/// One socket's live record, owned by its session.
pub struct Live {
    key: String,
    record: LiveRecord,
    queue: Arc<Mutex<Queue>>,
    refresh_at: Instant,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("key", &self.key).finish()
    }
}

impl Live {
    pub(super) fn new(pid: &str, nsp: String) -> Self {
        Self {
            key: live_key(pid),
            record: LiveRecord {
                nsp,
                rooms: Vec::new(),
            },
            queue: Arc::default(),
            refresh_at: Instant::now(),
        }
    }

    /// The socket joined `room` and needs nothing of it up to `since`.
    pub fn join(&mut self, store: &Store, room: &RoomName, since: &Position) {
        self.record.rooms.retain(|r| r.room != *room);
        self.record.rooms.push(LiveRoom {
            room: room.clone(),
            epoch: Arc::from(since.epoch.as_str()),
            since: since.offset,
        });
        self.save(store);
    }

    /// The socket left `room`.
    pub fn leave(&mut self, store: &Store, room: &RoomName) {
        let before = self.record.rooms.len();
        self.record.rooms.retain(|r| r.room != *room);
        if self.record.rooms.len() != before {
            self.save(store);
        }
    }

    /// Rewrites the record when half the recovery window has passed since
    /// the last write, so it outlives the socket by at least a window.
    pub fn refresh_if_due(&mut self, store: &Store, now: Instant) {
        if now >= self.refresh_at && !self.record.rooms.is_empty() {
            self.save(store);
        }
    }

    /// The socket will not be recovered: the record goes.
    pub fn delete(self, store: &Store) {
        self.send(store, Op::Delete);
    }

    fn save(&mut self, store: &Store) {
        self.refresh_at = Instant::now() + store.window / 2;
        match serde_json::to_vec(&self.record) {
            Ok(bytes) => self.send(store, Op::Put(bytes)),
            Err(e) => tracing::warn!(error = %e, "could not encode a live recovery record"),
        }
    }

    fn send(&self, store: &Store, op: Op) {
        let Some(redis) = store.redis.clone() else {
            return;
        };
        {
            let mut q = self.queue.lock();
            q.next = Some(op);
            if q.running {
                return;
            }
            q.running = true;
        }
        let (queue, key) = (self.queue.clone(), self.key.clone());
        let ttl = live_ttl(store.window) + store.heartbeat;
        store.tasks.spawn(async move {
            loop {
                let op = {
                    let mut q = queue.lock();
                    match q.next.take() {
                        Some(op) => op,
                        None => {
                            q.running = false;
                            break;
                        }
                    }
                };
                let result = match op {
                    Op::Put(bytes) => redis.put(&key, &bytes, ttl).await,
                    Op::Delete => redis.delete(&key).await,
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "could not write a live recovery record");
                }
            }
        });
    }
}

/// How long a live record is kept after its last write (plus the
/// session's heartbeat, on which it is refreshed):
/// refreshed every half window, it outlives a dead gateway by at least one
/// window.
fn live_ttl(window: Duration) -> Duration {
    window + window / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketio::recovery::offset_string;

    fn room(s: &str) -> RoomName {
        RoomName::new(s).unwrap()
    }

    fn record(rooms: &[(&str, u64)]) -> LiveRecord {
        LiveRecord {
            nsp: "/".into(),
            rooms: rooms
                .iter()
                .map(|(r, since)| LiveRoom {
                    room: room(r),
                    epoch: Arc::from("e1"),
                    since: *since,
                })
                .collect(),
        }
    }

    fn at(offset: u64) -> Position {
        Position {
            epoch: "e1".into(),
            offset,
        }
    }

    #[test]
    fn one_room_resumes_after_the_offset_the_client_echoes() {
        let rec = record(&[("a", 4)]);
        let got = live_positions(&rec, Some(&offset_string(9, "e1", "a"))).unwrap();
        assert_eq!(got, vec![(room("a"), at(9))]);
        // Nothing received since joining: from the join point.
        assert_eq!(
            live_positions(&rec, None).unwrap(),
            vec![(room("a"), at(4))]
        );
        // An offset from before the last join: from the join point.
        let got = live_positions(&rec, Some(&offset_string(2, "e1", "a"))).unwrap();
        assert_eq!(got, vec![(room("a"), at(4))]);
    }

    #[test]
    fn what_one_offset_cannot_place_is_not_recovered() {
        let two = record(&[("a", 4), ("b", 7)]);
        assert_eq!(
            live_positions(&two, Some(&offset_string(9, "e1", "a"))),
            None
        );
        assert_eq!(live_positions(&two, None), None);
        let one = record(&[("a", 4)]);
        assert_eq!(
            live_positions(&one, Some(&offset_string(9, "e1", "b"))),
            None
        );
        assert_eq!(live_positions(&one, Some("garbage")), None);
        assert_eq!(live_positions(&record(&[]), None), Some(Vec::new()));
    }
}
