//! Connection state recovery (socket.io-client 4.6+).
//!
//! The client keeps one offset per socket: the last argument of the last
//! event it received. Herald's offset names one message, `"<offset>
//! <epoch> <room>"` (spaces cannot occur in rooms or epochs), so it is the
//! same for every socket and the broadcast frame is encoded once.
//!
//! A socket in several rooms needs a position in each. The gateway logs
//! what it sent each socket, in order ([`SentLog`], bounded); when the
//! socket's transport closes, the socket's rooms and that log are kept under
//! its `pid` for the recovery window ([`Store`]). On reconnect the client's
//! offset marks how far down the log it got: each room's position is the
//! last entry for that room up to there ([`positions`]). The missed
//! messages then come from the bus's history, exactly once and in order.
//!
//! On a Redis bus the record is also stored in Redis for the recovery
//! window, so a client that reconnects to another gateway is recovered
//! there too; the record is taken (read and deleted) by whichever gateway
//! the client reaches first. Without Redis only the gateway that held the
//! socket has its record; elsewhere the `pid` is unknown and the client
//! gets a fresh session (`recovered` false), whose subscribe sends the
//! rooms' current state.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use herald_protocol::{Position, RoomName};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use herald_bus::BusError;
use herald_bus::redis::RedisBus;

pub use crate::transport::sentlog::SentLog;

pub use herald_protocol::sio::recovery::{ParsedOffset, offset_string, parse_offset};

mod live;
pub use live::{Live, LiveRecord, LiveRoom, live_positions};

/// One room of a disconnected socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomState {
    /// The room.
    pub room: RoomName,
    /// Its epoch when the socket left.
    pub epoch: Arc<str>,
    /// The last offset written to the socket.
    pub last: u64,
}

/// A disconnected socket, kept for recovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Its namespace.
    pub nsp: String,
    /// Its rooms.
    pub rooms: Vec<RoomState>,
    /// What was written to it.
    pub sent: SentLog,
}

/// Each room's position as far as the client got, given the offset it
/// echoes (`None` when it received no message event at all).
///
/// Returns `None` when the offset is not in the log (too old, or not one
/// of this socket's): the socket cannot be recovered.
pub fn positions(rec: &Record, last: Option<&str>) -> Option<Vec<(RoomName, Position)>> {
    let log = &rec.sent;
    let at = match last {
        None if log.evicted => return None,
        None => None,
        Some(s) => {
            let p = parse_offset(s)?;
            let received = log.positions_at(p.room, p.offset)?;
            Some((p, received))
        }
    };
    let mut out = Vec::with_capacity(rec.rooms.len());
    for rs in &rec.rooms {
        let offset = match &at {
            Some((p, received)) => match received.iter().find(|(r, _)| *r == rs.room) {
                Some((_, o)) => *o,
                // Nothing of this room reached the client before that
                // point: resume before the first one written after it.
                None => log
                    .first_after(&rs.room, p.room, p.offset)
                    .map_or(rs.last, |o| o.saturating_sub(1)),
            },
            None => log
                .runs()
                .find(|r| r.room == rs.room)
                .map_or(rs.last, |r| r.first.saturating_sub(1)),
        };
        out.push((
            rs.room.clone(),
            Position {
                epoch: rs.epoch.to_string(),
                offset,
            },
        ));
    }
    Some(out)
}

struct Inner {
    /// Records by `pid`, with their expiry.
    map: HashMap<String, (Instant, Record)>,
    /// `pid`s in expiry order, for sweeping.
    order: VecDeque<(Instant, String)>,
}

/// The Redis key (under the bus's ephemeral prefix) of a shared record.
fn record_key(pid: &str) -> String {
    format!("sio:{pid}")
}

/// Where records are shared with the other gateways: the Redis bus's
/// ephemeral keys (a trait so tests can stand in a slow store).
#[async_trait::async_trait]
pub trait Shared: Send + Sync {
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), BusError>;
    /// Reads and deletes the value under `key`.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BusError>;
    /// Deletes the value under `key`.
    async fn delete(&self, key: &str) -> Result<(), BusError>;
}

#[async_trait::async_trait]
impl Shared for RedisBus {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), BusError> {
        self.put_ephemeral(key, value, ttl).await
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BusError> {
        self.take_ephemeral(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.delete_ephemeral(key).await
    }
}

/// What a reconnecting socket's `pid` found.
#[derive(Debug)]
pub enum Found {
    /// The record its gateway wrote when it noticed the transport close.
    Closed(Record),
    /// Only the live record: its gateway died without noticing.
    Crashed(LiveRecord),
}

/// Disconnected sockets by `pid`, for the recovery window; bounded.
pub struct Store {
    /// The records.
    inner: Mutex<Inner>,
    /// How long a record is kept.
    window: Duration,
    /// Most records kept.
    max: usize,
    /// Where records are shared with the other gateways, if anywhere.
    redis: Option<Arc<dyn Shared>>,
    /// Tracks the writes to Redis, so a draining gateway waits for them.
    tasks: TaskTracker,
    /// The longest a session may go without waking (a ping and its
    /// timeout): live records are refreshed on its heartbeat, so they last
    /// this much longer.
    heartbeat: Duration,
}

impl Store {
    /// An empty store keeping records for `window`, at most `max` of them,
    /// shared through `redis` when the gateway runs on the Redis bus; its
    /// writes to Redis run on `tasks`.
    pub fn new(
        window: Duration,
        max: usize,
        redis: Option<Arc<dyn Shared>>,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            window,
            max,
            redis,
            tasks,
            heartbeat: Duration::ZERO,
        }
    }

    /// Sets how long a session may go without waking (its ping interval
    /// plus ping timeout), which live records must outlast.
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Keeps `rec` under `pid` here and, on a Redis bus, in Redis for the
    /// other gateways. Returns false when the local store is full.
    pub fn put_shared(&self, pid: String, rec: Record) -> bool {
        if let Some(redis) = self.redis.clone() {
            match serde_json::to_vec(&rec) {
                Ok(bytes) => {
                    let (key, window) = (pid.clone(), self.window);
                    self.tasks.spawn(async move {
                        if let Err(e) = redis.put(&record_key(&key), &bytes, window).await {
                            tracing::warn!(error = %e, "could not share a recovery record");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "could not encode a recovery record"),
            }
        }
        self.put(pid, rec)
    }

    /// A live record for the socket `pid` in `nsp`, kept in Redis as it
    /// joins and leaves rooms; `None` without Redis (a crash loses the
    /// gateway's memory, and nothing else would hold it).
    pub fn live(&self, pid: &str, nsp: &str) -> Option<Live> {
        self.redis.as_ref()?;
        Some(Live::new(pid, nsp.to_owned()))
    }

    /// Takes the record of `pid`: from this gateway's memory, else from
    /// Redis (another gateway held the socket), else its live record (that
    /// gateway died). Whatever is found is gone afterwards, so a record
    /// recovers one reconnect only.
    pub async fn take_shared(&self, pid: &str) -> Option<Found> {
        let local = self.take(pid);
        let Some(redis) = self.redis.as_ref() else {
            return local.map(Found::Closed);
        };
        let read = |what: &'static str, r: Result<Option<Vec<u8>>, BusError>| match r {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, what, "could not read a shared recovery record");
                None
            }
        };
        let shared = read("closed", redis.take(&record_key(pid)).await);
        let live = read("live", redis.take(&live::live_key(pid)).await);
        if let Some(rec) = local {
            return Some(Found::Closed(rec));
        }
        if let Some(bytes) = shared {
            return match serde_json::from_slice::<Record>(&bytes) {
                Ok(rec) => Some(Found::Closed(rec)),
                Err(e) => {
                    tracing::warn!(error = %e, "invalid shared recovery record; not recovered");
                    None
                }
            };
        }
        match serde_json::from_slice::<LiveRecord>(&live?) {
            Ok(rec) => Some(Found::Crashed(rec)),
            Err(e) => {
                tracing::warn!(error = %e, "invalid live recovery record; not recovered");
                None
            }
        }
    }

    /// Keeps `rec` under `pid`. Returns false when the store is full.
    pub fn put(&self, pid: String, rec: Record) -> bool {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        Self::sweep(&mut inner, now);
        if inner.map.len() >= self.max {
            return false;
        }
        let expires = now + self.window;
        inner.order.push_back((expires, pid.clone()));
        inner.map.insert(pid, (expires, rec));
        true
    }

    /// Removes and returns the record under `pid`, if it has not expired.
    pub fn take(&self, pid: &str) -> Option<Record> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        Self::sweep(&mut inner, now);
        inner
            .map
            .remove(pid)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, rec)| rec)
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sweep(inner: &mut Inner, now: Instant) {
        while let Some((expires, _)) = inner.order.front() {
            if *expires > now {
                break;
            }
            if let Some((_, pid)) = inner.order.pop_front()
                && inner.map.get(&pid).is_some_and(|(e, _)| *e <= now)
            {
                inner.map.remove(&pid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared store whose writes take a while.
    #[derive(Default)]
    struct Slow {
        stored: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Shared for Slow {
        async fn put(&self, key: &str, _: &[u8], _: Duration) -> Result<(), BusError> {
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.stored.lock().push(key.to_owned());
            Ok(())
        }
        async fn take(&self, _: &str) -> Result<Option<Vec<u8>>, BusError> {
            Ok(None)
        }
        async fn delete(&self, _: &str) -> Result<(), BusError> {
            Ok(())
        }
    }

    /// A shared store holding fixed bytes under every key (`take` gives
    /// them once per key), and recording what it is asked to write.
    #[derive(Default)]
    struct Fixed {
        values: Mutex<HashMap<String, Vec<u8>>>,
        written: Mutex<Vec<(String, Vec<u8>)>>,
    }

    #[async_trait::async_trait]
    impl Shared for Fixed {
        async fn put(&self, key: &str, value: &[u8], _: Duration) -> Result<(), BusError> {
            self.written.lock().push((key.to_owned(), value.to_vec()));
            Ok(())
        }
        async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BusError> {
            Ok(self.values.lock().remove(key))
        }
        async fn delete(&self, key: &str) -> Result<(), BusError> {
            self.values.lock().remove(key);
            Ok(())
        }
    }

    /// A record in Redis is input too: garbage there is not recovered
    /// (and does not fail the reconnect), a live record is found when the
    /// closed one is missing, and either is taken once.
    #[tokio::test]
    async fn shared_records_are_read_once_and_garbage_is_not_recovered() {
        let fixed = Arc::new(Fixed::default());
        let store = Store::new(
            Duration::from_secs(60),
            4,
            Some(fixed.clone() as Arc<dyn Shared>),
            TaskTracker::new(),
        );
        fixed
            .values
            .lock()
            .insert(record_key("p1"), b"{not json".to_vec());
        assert!(store.take_shared("p1").await.is_none());
        fixed.values.lock().insert(
            live::live_key("p2"),
            br#"{"nsp":"/","rooms":[{"room":7}]}"#.to_vec(),
        );
        assert!(
            store.take_shared("p2").await.is_none(),
            "a live record of the wrong shape"
        );
        let live = LiveRecord {
            nsp: "/".into(),
            rooms: vec![LiveRoom {
                room: RoomName::new("a").unwrap(),
                epoch: Arc::from("e1"),
                since: 3,
            }],
        };
        fixed
            .values
            .lock()
            .insert(live::live_key("p3"), serde_json::to_vec(&live).unwrap());
        assert!(matches!(store.take_shared("p3").await, Some(Found::Crashed(r)) if r == live));
        assert!(store.take_shared("p3").await.is_none(), "taken once");
    }

    /// Joins and leaves write the whole live record, in order.
    #[tokio::test]
    async fn a_live_record_follows_joins_and_leaves() {
        let fixed = Arc::new(Fixed::default());
        let tasks = TaskTracker::new();
        let store = Store::new(
            Duration::from_secs(60),
            4,
            Some(fixed.clone() as Arc<dyn Shared>),
            tasks.clone(),
        );
        let mut live = store
            .live("p", "/")
            .expect("a Redis store keeps live records");
        let at = |offset| Position {
            epoch: "e1".into(),
            offset,
        };
        live.join(&store, &RoomName::new("a").unwrap(), &at(4));
        live.join(&store, &RoomName::new("b").unwrap(), &at(9));
        live.leave(&store, &RoomName::new("a").unwrap());
        tasks.close();
        tasks.wait().await;
        let written = fixed.written.lock().clone();
        let last: LiveRecord = serde_json::from_slice(&written.last().unwrap().1).unwrap();
        assert_eq!(written.last().unwrap().0, live::live_key("p"));
        assert_eq!(last.rooms.len(), 1);
        assert_eq!((last.rooms[0].room.as_str(), last.rooms[0].since), ("b", 9));
        let none = Store::new(Duration::from_secs(60), 4, None, TaskTracker::new());
        assert!(
            none.live("p", "/").is_none(),
            "no live record without Redis"
        );
    }

    /// A drain waits on the tracker the store spawns its writes on, so a
    /// write still in flight when the connections have closed completes.
    #[tokio::test(start_paused = true)]
    async fn a_drain_waits_for_the_shared_write() {
        let slow = Arc::new(Slow::default());
        let tasks = TaskTracker::new();
        let store = Store::new(
            Duration::from_secs(60),
            10,
            Some(slow.clone() as Arc<dyn Shared>),
            tasks.clone(),
        );
        assert!(store.put_shared("p1".into(), record(&[("a", 1)], &[("a", 1)])));
        tasks.close();
        tasks.wait().await;
        assert_eq!(*slow.stored.lock(), vec!["sio:p1".to_owned()]);
    }

    fn room(s: &str) -> RoomName {
        RoomName::new(s).unwrap()
    }

    fn record(sent: &[(&str, u64)], rooms: &[(&str, u64)]) -> Record {
        let mut log = SentLog::default();
        for (r, o) in sent {
            log.push(&room(r), *o);
        }
        Record {
            nsp: "/".into(),
            rooms: rooms
                .iter()
                .map(|(r, last)| RoomState {
                    room: room(r),
                    epoch: Arc::from("e1"),
                    last: *last,
                })
                .collect(),
            sent: log,
        }
    }

    #[test]
    fn each_room_resumes_after_what_the_client_received() {
        // Sent: a1 b7 a2 b8 a3; the client got up to a2 (b8, a3 were lost).
        let rec = record(
            &[("a", 1), ("b", 7), ("a", 2), ("b", 8), ("a", 3)],
            &[("a", 3), ("b", 8), ("c", 5)],
        );
        let pos = positions(&rec, Some(&offset_string(2, "e1", "a"))).unwrap();
        let got: Vec<(String, u64)> = pos.iter().map(|(r, p)| (r.to_string(), p.offset)).collect();
        assert_eq!(got, vec![("a".into(), 2), ("b".into(), 7), ("c".into(), 5)]);
    }

    #[test]
    fn a_room_first_sent_after_the_offset_resumes_before_it() {
        let rec = record(&[("a", 1), ("b", 9)], &[("a", 1), ("b", 9)]);
        let pos = positions(&rec, Some(&offset_string(1, "e1", "a"))).unwrap();
        assert_eq!(pos[1].1.offset, 8);
        // Nothing received at all: everything resumes before the log.
        let pos = positions(&rec, None).unwrap();
        assert_eq!((pos[0].1.offset, pos[1].1.offset), (0, 8));
    }

    #[test]
    fn unknown_offsets_are_not_recovered() {
        let rec = record(&[("a", 1)], &[("a", 1)]);
        assert!(positions(&rec, Some(&offset_string(5, "e1", "a"))).is_none());
        assert!(positions(&rec, Some("garbage")).is_none());
    }

    #[test]
    fn the_store_is_bounded_and_takes_once() {
        let store = Store::new(Duration::from_secs(60), 1, None, TaskTracker::new());
        assert!(store.put("p1".into(), record(&[], &[])));
        assert!(!store.put("p2".into(), record(&[], &[])));
        assert!(store.take("p1").is_some());
        assert!(store.take("p1").is_none());
        let expired = Store::new(Duration::ZERO, 4, None, TaskTracker::new());
        expired.put("p".into(), record(&[], &[]));
        assert!(expired.take("p").is_none());
    }
}
