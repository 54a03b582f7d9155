//! The in-memory bus: one process, nothing shared, history bounded per room.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use dashmap::DashMap;
use herald_protocol::bus::{Control, Publication};
use herald_protocol::collection::{SetChange, SetOp, SetSpec};
use herald_protocol::{JsonText, Position, RoomName};
use parking_lot::Mutex;

use crate::{Bus, BusError, BusHealth, History, Message, Sink, StoredSet, read_history};

/// Limits of the in-memory bus.
#[derive(Debug, Clone)]
pub struct MemoryBusConfig {
    /// Messages kept per room for snapshots and recovery.
    pub history_size: usize,
    /// A room untouched for this long forgets its history.
    pub history_ttl: Duration,
    /// Most rooms with history: a publish that would create one more is
    /// refused (after forgetting expired rooms), so publishers cannot grow
    /// the map without bound.
    pub max_rooms: usize,
}

/// One room's stream: its latest offset and the bounded tail of messages.
struct RoomLog {
    /// The latest offset assigned.
    offset: u64,
    /// The newest `history_size` messages, oldest first.
    tail: VecDeque<Arc<Message>>,
    /// The last publish, for expiry.
    touched: Instant,
    /// A live collection's set: its shape and members by key text. A room
    /// with a set never expires.
    set: Option<(SetSpec, HashMap<String, JsonText>)>,
}

impl RoomLog {
    /// Applies a stored publication's set change.
    fn apply(&mut self, change: SetChange) {
        let members = &mut self
            .set
            .get_or_insert_with(|| (change.spec.clone(), HashMap::new()))
            .1;
        match change.op {
            SetOp::Put { key, doc } => {
                members.insert(key, doc);
            }
            SetOp::Remove { key } => {
                members.remove(&key);
            }
            SetOp::Reset { docs } => *members = docs.into_iter().collect(),
        }
        if let Some((spec, _)) = &mut self.set {
            *spec = change.spec;
        }
    }

    /// The newest message's time, Unix milliseconds (0 for none).
    fn touched_ms(&self) -> u64 {
        self.tail.back().map_or(0, |m| m.ts_ms)
    }

    /// The set with its position, if the room has one.
    fn stored_set(&self, epoch: &Arc<str>) -> Option<StoredSet> {
        let (spec, members) = self.set.as_ref()?;
        Some(StoredSet {
            epoch: epoch.clone(),
            offset: self.offset,
            spec: spec.clone(),
            docs: members
                .iter()
                .map(|(k, d)| (k.clone(), d.clone()))
                .collect(),
        })
    }
}

/// An in-process [`Bus`]: publish delivers straight to the local sink.
pub struct MemoryBus {
    /// Limits.
    config: MemoryBusConfig,
    /// One epoch for the process's life: a restart loses all history.
    epoch: Arc<str>,
    /// Room logs. The per-room mutex orders offset assignment with delivery.
    rooms: DashMap<RoomName, Arc<Mutex<RoomLog>>>,
    /// Where publications go.
    sink: OnceLock<Arc<dyn Sink>>,
}

impl MemoryBus {
    /// A bus with a fresh random epoch.
    pub fn new(config: MemoryBusConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            epoch: Arc::from(format!("m{:016x}", rand::random::<u64>())),
            rooms: DashMap::new(),
            sink: OnceLock::new(),
        })
    }

    /// Forgets rooms idle for longer than the history TTL. Returns how many.
    pub fn sweep(&self) -> usize {
        let ttl = self.config.history_ttl;
        let before = self.rooms.len();
        self.rooms.retain(|_, log| {
            let log = log.lock();
            log.set.is_some() || log.touched.elapsed() < ttl
        });
        before - self.rooms.len()
    }

    /// How many rooms hold history.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    fn publish_one(&self, p: Publication) -> Result<Position, BusError> {
        let room = RoomName::new(&p.room).map_err(|e| BusError::Invalid(e.to_string()))?;
        if self.rooms.len() >= self.config.max_rooms
            && !self.rooms.contains_key(&room)
            && (self.sweep() == 0 || self.rooms.len() >= self.config.max_rooms)
        {
            return Err(BusError::Rejected(format!(
                "room limit reached: {} rooms hold history (--max-rooms)",
                self.config.max_rooms
            )));
        }
        let log = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(RoomLog {
                    offset: 0,
                    tail: VecDeque::new(),
                    touched: Instant::now(),
                    set: None,
                }))
            })
            .clone();
        let mut log = log.lock();
        log.offset += 1;
        log.touched = Instant::now();
        if let Some(change) = p.set {
            log.apply(change);
        }
        let msg = Arc::new(Message::new(
            room,
            p.event,
            p.data,
            self.epoch.clone(),
            log.offset,
            p.ts_ms,
            p.src_ts_ms,
        ));
        if self.config.history_size > 0 {
            if log.tail.len() == self.config.history_size {
                log.tail.pop_front();
            }
            log.tail.push_back(msg.clone());
        }
        // Delivering under the room lock keeps delivery in offset order.
        if let Some(sink) = self.sink.get() {
            sink.deliver(msg);
        }
        Ok(Position {
            epoch: self.epoch.to_string(),
            offset: log.offset,
        })
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn start(&self, sink: Arc<dyn Sink>) -> Result<(), BusError> {
        self.sink
            .set(sink)
            .map_err(|_| BusError::unavailable("bus already started"))
    }

    async fn publish(&self, batch: Vec<Publication>) -> Vec<Result<Position, BusError>> {
        batch.into_iter().map(|p| self.publish_one(p)).collect()
    }

    async fn history(
        &self,
        room: &RoomName,
        since: Option<&Position>,
        limit: usize,
    ) -> Result<History, BusError> {
        let Some(log) = self.rooms.get(room).map(|l| l.clone()) else {
            let recovered = since.is_some_and(|s| s.epoch == *self.epoch && s.offset == 0);
            return Ok(History {
                epoch: self.epoch.clone(),
                offset: 0,
                messages: Vec::new(),
                recovered,
                snapshot: None,
            });
        };
        let log = log.lock();
        let history = read_history(&self.epoch, log.offset, &log.tail, since, limit);
        let snapshot = match log.stored_set(&self.epoch) {
            Some(set) if !history.recovered => Some(Arc::new(set.snapshot(room, log.touched_ms()))),
            _ => None,
        };
        Ok(History {
            snapshot,
            ..history
        })
    }

    async fn read_set(&self, room: &RoomName) -> Result<Option<StoredSet>, BusError> {
        let Some(log) = self.rooms.get(room).map(|l| l.clone()) else {
            return Ok(None);
        };
        let log = log.lock();
        Ok(log.stored_set(&self.epoch))
    }

    async fn watch(&self, _room: &RoomName) -> Result<(), BusError> {
        Ok(())
    }

    fn unwatch(&self, _room: &RoomName) {}

    async fn control(&self, cmd: Control) -> Result<(), BusError> {
        if let Some(sink) = self.sink.get() {
            sink.control(cmd);
        }
        Ok(())
    }

    fn presence(&self, event: herald_protocol::bus::PresenceEvent) -> bool {
        match self.sink.get() {
            Some(sink) => {
                sink.presence(event);
                true
            }
            None => false,
        }
    }

    fn health(&self) -> BusHealth {
        BusHealth {
            ready: self.sink.get().is_some(),
            detail: format!("memory bus, {} rooms with history", self.rooms.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Collect(Mutex<Vec<u64>>);
    impl Sink for Collect {
        fn deliver(&self, msg: Arc<Message>) {
            self.0.lock().push(msg.offset);
        }
        fn control(&self, _cmd: Control) {}
        fn resync_all(&self) {}
    }

    fn publication(room: &str, n: i64) -> Publication {
        Publication {
            room: room.into(),
            event: "e".into(),
            data: json!(n).into(),
            ts_ms: 0,
            src_ts_ms: None,
            src: None,
            src_pos: None,
            fence: None,
            set: None,
        }
    }

    fn bus(history_size: usize) -> Arc<MemoryBus> {
        MemoryBus::new(MemoryBusConfig {
            history_size,
            history_ttl: Duration::from_secs(60),
            max_rooms: 1000,
        })
    }

    #[tokio::test]
    async fn a_publish_past_the_room_limit_is_refused_and_existing_rooms_go_on() {
        let bus = MemoryBus::new(MemoryBusConfig {
            history_size: 4,
            history_ttl: Duration::from_secs(60),
            max_rooms: 2,
        });
        bus.start(Arc::new(Collect::default())).await.unwrap();
        let results = bus
            .publish(vec![
                publication("a", 1),
                publication("b", 2),
                publication("c", 3),
                publication("a", 4),
            ])
            .await;
        assert!(results[0].is_ok() && results[1].is_ok());
        match &results[2] {
            Err(BusError::Rejected(why)) => assert!(why.contains("room limit"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(results[3].as_ref().map(|p| p.offset).ok(), Some(2));
        assert_eq!(bus.rooms(), 2);
    }

    #[tokio::test]
    async fn expired_rooms_make_space_under_the_room_limit() {
        let bus = MemoryBus::new(MemoryBusConfig {
            history_size: 4,
            history_ttl: Duration::from_millis(50),
            max_rooms: 1,
        });
        bus.start(Arc::new(Collect::default())).await.unwrap();
        assert!(bus.publish(vec![publication("a", 1)]).await[0].is_ok());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(bus.publish(vec![publication("b", 2)]).await[0].is_ok());
        assert_eq!(bus.rooms(), 1);
    }

    #[tokio::test]
    async fn offsets_are_consecutive_per_room_and_delivered_in_order() {
        let bus = bus(10);
        let sink = Arc::new(Collect::default());
        bus.start(sink.clone()).await.unwrap();
        let res = bus
            .publish((1..=5).map(|n| publication("a", n)).collect())
            .await;
        let offsets: Vec<u64> = res.into_iter().map(|r| r.unwrap().offset).collect();
        assert_eq!(offsets, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            bus.publish(vec![publication("b", 1)]).await[0]
                .as_ref()
                .unwrap()
                .offset,
            1
        );
        assert_eq!(*sink.0.lock(), vec![1, 2, 3, 4, 5, 1]);
    }

    #[tokio::test]
    async fn history_recovers_exactly_the_missed_messages_or_says_it_cannot() {
        let bus = bus(3);
        bus.start(Arc::new(Collect::default())).await.unwrap();
        bus.publish((1..=5).map(|n| publication("a", n)).collect())
            .await;
        let room = RoomName::new("a").unwrap();
        let epoch = bus.epoch.to_string();

        let h = bus
            .history(
                &room,
                Some(&Position {
                    epoch: epoch.clone(),
                    offset: 3,
                }),
                1,
            )
            .await
            .unwrap();
        assert!(h.recovered);
        assert_eq!(
            h.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
            vec![4, 5]
        );

        let h = bus
            .history(
                &room,
                Some(&Position {
                    epoch: epoch.clone(),
                    offset: 5,
                }),
                1,
            )
            .await
            .unwrap();
        assert!(h.recovered && h.messages.is_empty());

        // Offset 1 is gone from a 3-message history: not recoverable, snapshot instead.
        let h = bus
            .history(
                &room,
                Some(&Position {
                    epoch: epoch.clone(),
                    offset: 1,
                }),
                1,
            )
            .await
            .unwrap();
        assert!(!h.recovered);
        assert_eq!(
            h.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
            vec![5]
        );

        let h = bus
            .history(
                &room,
                Some(&Position {
                    epoch: "other".into(),
                    offset: 4,
                }),
                2,
            )
            .await
            .unwrap();
        assert!(!h.recovered);
        assert_eq!(
            h.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
            vec![4, 5]
        );

        let h = bus.history(&room, None, 1).await.unwrap();
        assert_eq!((h.offset, h.recovered, h.messages.len()), (5, false, 1));
    }

    #[tokio::test]
    async fn an_invalid_room_is_refused_not_stored() {
        let bus = bus(3);
        bus.start(Arc::new(Collect::default())).await.unwrap();
        let res = bus.publish(vec![publication("bad room", 1)]).await;
        assert!(matches!(res[0], Err(BusError::Invalid(_))));
        assert_eq!(bus.rooms(), 0);
    }

    #[tokio::test]
    async fn a_set_room_answers_with_its_set_and_never_expires() {
        use herald_protocol::collection::{SNAPSHOT_EVENT, SetChange, Snapshot};
        let bus = MemoryBus::new(MemoryBusConfig {
            history_size: 2,
            history_ttl: Duration::from_millis(1),
            max_rooms: 1000,
        });
        bus.start(Arc::new(Collect::default())).await.unwrap();
        let put = |key: &str, n: i64| {
            let mut p = publication("live", n);
            p.set = Some(SetChange {
                spec: SetSpec::by_id(),
                op: SetOp::Put {
                    key: format!("{key:?}"),
                    doc: json!({"_id": key, "n": n}).into(),
                },
            });
            p
        };
        let mut del = publication("live", 0);
        del.set = Some(SetChange {
            spec: SetSpec::by_id(),
            op: SetOp::Remove {
                key: "\"a\"".into(),
            },
        });
        for r in bus
            .publish(vec![put("a", 1), put("b", 2), put("c", 3), del])
            .await
        {
            r.unwrap();
        }
        let room = RoomName::new("live").unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(bus.sweep(), 0, "a set room is not forgotten");
        let h = bus.history(&room, None, 10).await.unwrap();
        assert_eq!(h.messages.len(), 2, "the latest messages, as for any room");
        let m = h.snapshot.as_ref().expect("and the set");
        assert_eq!((m.event.as_str(), m.offset), (SNAPSHOT_EVENT, 4));
        let snap = Snapshot::decode(m.data.as_bytes()).unwrap();
        let mut ids: Vec<String> = snap
            .docs
            .iter()
            .map(|d| d["_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        assert_eq!(ids, ["b", "c"]);
        let since = Position {
            epoch: h.epoch.to_string(),
            offset: 3,
        };
        let h = bus.history(&room, Some(&since), 10).await.unwrap();
        assert!(h.recovered, "recent changes recover as messages");
        assert!(h.snapshot.is_none());
        assert_eq!(h.messages.iter().map(|m| m.offset).collect::<Vec<_>>(), [4]);
        assert_eq!(bus.read_set(&room).await.unwrap().unwrap().docs.len(), 2);
    }
}
