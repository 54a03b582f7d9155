//! Live collections through real gateways on one Redis: a publisher stores
//! set changes on the bus, clients on two gateways keep their copy from a
//! snapshot and the changes, and through a `kill -9` of their gateway, a
//! reconnect elsewhere with `since`, and a `since` older than the history,
//! their copy stays equal to the publisher's set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use herald_bus::redis::{RedisBus, RedisBusConfig};
use herald_bus::{Bus, Message, Sink};
use herald_protocol::bus::{Control, Publication};
use herald_protocol::collection::{
    CHANGE_EVENT, Change, ChangeKind, LiveSet, Patch, SNAPSHOT_EVENT, SetChange, SetOp, SetSpec,
    Snapshot, key_text,
};
use herald_protocol::native::{ClientFrame, ServerFrame};
use herald_protocol::{Position, RoomName};
use herald_tests::gateway::GatewayProc;
use herald_tests::redis::RedisServer;
use herald_tests::ws::{Client, Received};
use serde_json::{Value, json};

const ROOM: &str = "orders:live";

fn spec() -> SetSpec {
    SetSpec {
        key: "_id".into(),
        sort: Some("n".into()),
        descending: true,
        limit: Some(8),
    }
}

fn gateway(url: &str, node: &str) -> GatewayProc {
    GatewayProc::start(&[
        "--redis-url",
        url,
        "--node-id",
        node,
        "--demo-rate",
        "0",
        "--public-rooms",
        "*",
        "--history-size",
        "20",
        "--log",
        "warn",
    ])
}

struct NoSink;
impl Sink for NoSink {
    fn deliver(&self, _msg: Arc<Message>) {}
    fn control(&self, _cmd: Control) {}
    fn resync_all(&self) {}
}

/// The publisher: keeps the reference set and stores each change with its
/// set op, as the router does.
struct Publisher {
    bus: Arc<RedisBus>,
    set: HashMap<String, Value>,
    step: u64,
}

impl Publisher {
    async fn new(url: &str) -> Self {
        let cfg = RedisBusConfig {
            urls: vec![url.into()],
            node_id: "pub".into(),
            history_size: 20,
            ..RedisBusConfig::default()
        };
        let bus = RedisBus::connect(cfg, None).await.unwrap();
        bus.start(Arc::new(NoSink)).await.unwrap();
        Self {
            bus,
            set: HashMap::new(),
            step: 0,
        }
    }

    async fn store(&self, c: Change, op: SetOp) {
        let p = Publication {
            room: ROOM.into(),
            event: CHANGE_EVENT.into(),
            data: c.to_json(),
            ts_ms: 1,
            src_ts_ms: None,
            src: None,
            src_pos: None,
            fence: None,
            set: Some(SetChange { spec: spec(), op }),
        };
        for r in self.bus.publish(vec![p]).await {
            r.unwrap();
        }
    }

    /// One step: a new document (evicting the last past the limit), or a
    /// patch of a member's status.
    async fn step(&mut self) {
        self.step += 1;
        let s = self.step;
        if s % 3 != 0 || self.set.is_empty() {
            let doc = json!({"_id": format!("d{s:04}"), "n": s, "status": "pending"});
            let key = key_text(&doc["_id"]);
            self.set.insert(key.clone(), doc.clone());
            self.store(
                Change {
                    room: ROOM.into(),
                    key: doc["_id"].clone(),
                    kind: ChangeKind::Upsert { doc: doc.clone() },
                },
                SetOp::Put {
                    key,
                    doc: (&doc).into(),
                },
            )
            .await;
            if self.set.len() > 8 {
                let last = self
                    .set
                    .iter()
                    .min_by_key(|(_, d)| d["n"].as_u64())
                    .map(|(k, _)| k.clone())
                    .unwrap();
                let gone = self.set.remove(&last).unwrap();
                self.store(
                    Change {
                        room: ROOM.into(),
                        key: gone["_id"].clone(),
                        kind: ChangeKind::Remove,
                    },
                    SetOp::Remove { key: last },
                )
                .await;
            }
        } else {
            let (key, doc) = self
                .set
                .iter_mut()
                .max_by_key(|(_, d)| d["n"].as_u64())
                .unwrap();
            let status = format!("s{s}");
            doc["status"] = json!(status);
            let mut p = Patch::default();
            p.set.insert("status".into(), json!(status));
            let (key, doc) = (key.clone(), doc.clone());
            self.store(
                Change {
                    room: ROOM.into(),
                    key: doc["_id"].clone(),
                    kind: ChangeKind::Patch(p),
                },
                SetOp::Put {
                    key,
                    doc: (&doc).into(),
                },
            )
            .await;
        }
    }
}

/// A client's copy of the room, kept from what its gateway sends.
struct Copy {
    ws: Client,
    set: LiveSet,
    pos: Option<Position>,
    epoch: String,
    snapshots: usize,
}

impl Copy {
    async fn join(url: &str, since: Option<Position>, set: LiveSet) -> (Self, bool) {
        let (mut ws, _) = Client::connect(url).await;
        ws.send(&ClientFrame::Subscribe {
            room: RoomName::new(ROOM).unwrap(),
            since: since.clone(),
            leave_others: false,
            token: None,
            id: None,
        })
        .await;
        let (recovered, epoch) = loop {
            if let ServerFrame::Subscribed {
                recovered, epoch, ..
            } = ws.next_frame().await
            {
                break (recovered, epoch);
            }
        };
        (
            Self {
                ws,
                set,
                pos: since,
                epoch,
                snapshots: 0,
            },
            recovered,
        )
    }

    /// Applies frames until the copy is at `offset` or the socket closes;
    /// false on close.
    async fn until(&mut self, offset: u64) -> bool {
        while self.pos.as_ref().is_none_or(|p| p.offset < offset) {
            let f = match tokio::time::timeout(Duration::from_secs(20), self.ws.recv())
                .await
                .expect("a frame")
            {
                Received::Frame(f) => f,
                Received::Closed(_) => return false,
            };
            let ServerFrame::Message {
                event,
                data,
                offset: at,
                ..
            } = f
            else {
                continue;
            };
            if event == SNAPSHOT_EVENT {
                let s: Snapshot = serde_json::from_value(data).unwrap();
                self.set = LiveSet::from_snapshot(&s);
                self.snapshots += 1;
            } else {
                assert_eq!(event, CHANGE_EVENT);
                let last = self.pos.as_ref().map_or(0, |p| p.offset);
                assert_eq!(at, last + 1, "changes arrive in order, without a gap");
                let c: Change = serde_json::from_value(data).unwrap();
                self.set.apply(&c).unwrap();
            }
            self.pos = Some(Position {
                epoch: self.epoch.clone(),
                offset: at,
            });
        }
        true
    }
}

async fn latest(bus: &RedisBus) -> Position {
    let h = bus
        .history(&RoomName::new(ROOM).unwrap(), None, 1)
        .await
        .unwrap();
    Position {
        epoch: h.epoch.to_string(),
        offset: h.offset,
    }
}

fn same(copy: &LiveSet, reference: &HashMap<String, Value>) {
    let mut got: Vec<&Value> = copy.docs.values().collect();
    let mut want: Vec<&Value> = reference.values().collect();
    got.sort_by_key(|d| d["n"].as_u64());
    want.sort_by_key(|d| d["n"].as_u64());
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_live_collection_stays_whole_through_a_killed_gateway_and_lost_history() {
    let redis = RedisServer::start();
    let url = redis.url();
    let gws = [gateway(&url, "gw-a"), gateway(&url, "gw-b")];
    let mut publisher = Publisher::new(&url).await;
    for _ in 0..12 {
        publisher.step().await;
    }

    // A joiner gets the set as one snapshot at the latest offset.
    let (mut c, recovered) = Copy::join(&gws[1].ws_url(), None, LiveSet::new(spec())).await;
    assert!(!recovered);
    let mut at = latest(&publisher.bus).await;
    assert!(c.until(at.offset).await);
    assert_eq!(c.snapshots, 1);
    assert_eq!(
        c.pos.as_ref().map(|p| p.offset),
        Some(at.offset),
        "the snapshot is at the latest offset"
    );
    same(&c.set, &publisher.set);

    // Changes follow; then the client's gateway is killed mid-stream.
    for _ in 0..6 {
        publisher.step().await;
    }
    at = latest(&publisher.bus).await;
    assert!(c.until(at.offset).await);
    same(&c.set, &publisher.set);
    gws[1].proc.signal("KILL");
    for _ in 0..6 {
        publisher.step().await;
    }
    assert!(
        !c.until(u64::MAX).await,
        "the connection dies with its gateway"
    );

    // Elsewhere, with `since`: exactly the missed changes, no snapshot.
    let (mut c2, recovered) = Copy::join(&gws[0].ws_url(), c.pos.clone(), c.set.clone()).await;
    assert!(recovered, "the missed changes are still held");
    at = latest(&publisher.bus).await;
    assert!(c2.until(at.offset).await);
    assert_eq!(c2.snapshots, 0, "recovery sends the changes, not the set");
    same(&c2.set, &publisher.set);

    // A client away longer than the history (20) gets a fresh snapshot and
    // replaces what it held.
    let stale = c2.pos.clone();
    drop(c2);
    for _ in 0..40 {
        publisher.step().await;
    }
    let (mut c3, recovered) = Copy::join(&gws[0].ws_url(), stale, LiveSet::new(spec())).await;
    assert!(!recovered);
    at = latest(&publisher.bus).await;
    assert!(c3.until(at.offset).await);
    assert_eq!(c3.snapshots, 1);
    same(&c3.set, &publisher.set);
    assert_eq!(c3.set.docs.len(), 8, "the limit holds");
}
