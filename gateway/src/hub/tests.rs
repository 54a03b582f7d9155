//! The hub's ordering rules with the in-memory bus, sessions driven the
//! way a connection task drives them, and paused time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_bus::memory::{MemoryBus, MemoryBusConfig};
use herald_bus::{Bus, BusError, BusHealth, History as BusHistory, Message, Sink};
use herald_protocol::bus::{Control, Publication};
use herald_protocol::native::{CloseCode, Format};
use herald_protocol::{Position, RoomName};
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::subscriptions::{Emit, Subscriptions};
use super::{Hub, HubConfig};
use crate::metrics::GatewayMetrics;
use crate::native::conn::{NativeWire, emit_chunk};
use crate::transport::frames::Framing;
use crate::transport::link::{Closed, Link, LinkLimits, Out, Wire};
use crate::transport::testwire::Pipe;

/// The memory bus, with history reads counted and slowed down, a way to
/// lose deliveries (as a reader that missed entries would), and a way to
/// lose everything (as a Redis restart would: a new epoch).
struct TestBus {
    /// The bus behind, replaced by [`TestBus::lose_everything`].
    inner: Mutex<Arc<MemoryBus>>,
    /// The sink, kept for a replacement bus.
    sink: Mutex<Option<Arc<dyn Sink>>>,
    /// History reads made.
    reads: AtomicUsize,
    /// While set, publications are stored but not delivered.
    drop_deliveries: Arc<AtomicBool>,
    /// Published by the next history read just before it reads.
    race: Mutex<Option<Publication>>,
}

/// Delivers to the hub unless deliveries are being dropped.
struct Gate {
    /// The hub.
    sink: Arc<dyn Sink>,
    /// Drop while set.
    drop: Arc<AtomicBool>,
}

impl Sink for Gate {
    fn deliver(&self, msg: Arc<Message>) {
        if !self.drop.load(Ordering::SeqCst) {
            self.sink.deliver(msg);
        }
    }
    fn control(&self, cmd: Control) {
        self.sink.control(cmd);
    }
    fn resync_all(&self) {
        self.sink.resync_all();
    }
}

fn memory() -> Arc<MemoryBus> {
    MemoryBus::new(MemoryBusConfig {
        history_size: 100,
        history_ttl: Duration::from_secs(3600),
        max_rooms: 1000,
    })
}

impl TestBus {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(memory()),
            sink: Mutex::new(None),
            reads: AtomicUsize::new(0),
            drop_deliveries: Arc::new(AtomicBool::new(false)),
            race: Mutex::new(None),
        })
    }

    fn bus(&self) -> Arc<MemoryBus> {
        self.inner.lock().clone()
    }

    /// A new, empty bus (a new epoch) behind the same sink.
    async fn lose_everything(&self) {
        let fresh = memory();
        let sink = self.sink.lock().clone();
        if let Some(sink) = sink {
            let gate = Arc::new(Gate {
                sink,
                drop: self.drop_deliveries.clone(),
            });
            fresh.start(gate).await.unwrap();
        }
        *self.inner.lock() = fresh;
    }
}

#[async_trait]
impl Bus for TestBus {
    async fn start(&self, sink: Arc<dyn Sink>) -> Result<(), BusError> {
        *self.sink.lock() = Some(sink.clone());
        let gate = Arc::new(Gate {
            sink,
            drop: self.drop_deliveries.clone(),
        });
        self.bus().start(gate).await
    }
    async fn publish(&self, batch: Vec<Publication>) -> Vec<Result<Position, BusError>> {
        self.bus().publish(batch).await
    }
    async fn history(
        &self,
        room: &RoomName,
        since: Option<&Position>,
        limit: usize,
    ) -> Result<BusHistory, BusError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        // A read takes a while: other sessions ask meanwhile.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let race = self.race.lock().take();
        if let Some(p) = race {
            self.bus().publish(vec![p]).await;
        }
        self.bus().history(room, since, limit).await
    }
    async fn read_set(&self, room: &RoomName) -> Result<Option<herald_bus::StoredSet>, BusError> {
        self.bus().read_set(room).await
    }
    async fn watch(&self, room: &RoomName) -> Result<(), BusError> {
        self.bus().watch(room).await
    }
    fn unwatch(&self, room: &RoomName) {
        self.bus().unwatch(room);
    }
    async fn control(&self, cmd: Control) -> Result<(), BusError> {
        self.bus().control(cmd).await
    }
    fn health(&self) -> BusHealth {
        self.bus().health()
    }
}

fn publication(room: &str, n: u64) -> Publication {
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

async fn hub() -> (Arc<Hub>, Arc<TestBus>) {
    let bus = TestBus::new();
    let hub = Hub::new(
        bus.clone(),
        Arc::new(GatewayMetrics::new(false)),
        HubConfig {
            lanes: 0,
            history_size: 100,
        },
    );
    bus.start(hub.clone()).await.unwrap();
    (hub, bus)
}

/// A session as a connection task drives it, writing native JSON frames
/// to a pipe.
struct Session {
    pipe: Arc<Pipe>,
    link: Arc<Link>,
    subs: Subscriptions,
    emits: Vec<Emit>,
}

impl Session {
    fn new(hub: &Arc<Hub>, pipe: Arc<Pipe>, limits: LinkLimits) -> Self {
        Self::of(hub, None, pipe, limits)
    }

    /// A session of `user` (anonymous for `None`).
    fn of(hub: &Arc<Hub>, user: Option<&str>, pipe: Arc<Pipe>, limits: LinkLimits) -> Self {
        let link = Link::new(
            Arc::from("s"),
            Framing::WsNative(Format::Json),
            Some(pipe.clone() as Arc<dyn Wire>),
            limits,
            hub.metrics().clone(),
        );
        let conn = hub.register(user.map(str::to_owned), link.clone());
        let subs = Subscriptions::new(hub.clone(), conn, link.clone(), 64, 1);
        Self {
            pipe,
            link,
            subs,
            emits: Vec::new(),
        }
    }

    fn open(hub: &Arc<Hub>) -> Self {
        Self::new(
            hub,
            Pipe::open(),
            LinkLimits {
                max_messages: 1000,
                max_bytes: 1 << 20,
            },
        )
    }

    fn write(&mut self) {
        let chunks: Vec<_> = self
            .emits
            .drain(..)
            .map(|e| emit_chunk(e, NativeWire::Ws, Format::Json))
            .collect();
        let _ = self.link.write(chunks);
        self.subs.settle();
    }

    async fn subscribe(&mut self, room: &str, since: Option<Position>) {
        self.subs
            .subscribe(RoomName::new(room).unwrap(), since, None, &mut self.emits)
            .await
            .unwrap();
        self.write();
    }

    /// One turn of the task: the inbox, then writes.
    async fn pump(&mut self) {
        let mut inbox = VecDeque::new();
        if self.link.take_inbox(&mut inbox).is_some() {
            return;
        }
        for out in inbox {
            self.subs.on_out(out, &mut self.emits).await;
        }
        self.write();
    }

    fn frames(&self) -> Vec<Value> {
        self.pipe
            .texts()
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect()
    }

    /// The data of the message frames received, in order.
    fn received(&self) -> Vec<u64> {
        self.frames()
            .iter()
            .filter(|f| f["type"] == "message")
            .map(|f| f["data"].as_u64().unwrap())
            .collect()
    }

    /// The `recovered` flag of each `subscribed` frame received.
    fn subscribed(&self) -> Vec<bool> {
        self.frames()
            .iter()
            .filter(|f| f["type"] == "subscribed")
            .map(|f| f["recovered"].as_bool().unwrap())
            .collect()
    }
}

async fn publish(bus: &TestBus, room: &str, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        bus.publish(vec![publication(room, n)]).await[0]
            .as_ref()
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn join_before_history_drops_the_overlap_by_offset() {
    let (hub, bus) = hub().await;
    publish(&bus, "r", 1..=3).await;
    let epoch = bus
        .bus()
        .history(&RoomName::new("r").unwrap(), None, 1)
        .await
        .unwrap()
        .epoch;
    // Message 4 is published after the join but before the history read:
    // it arrives live (deferred, the slot is held) and in the history.
    *bus.race.lock() = Some(publication("r", 4));
    let mut s = Session::open(&hub);
    s.subscribe(
        "r",
        Some(Position {
            epoch: epoch.to_string(),
            offset: 1,
        }),
    )
    .await;
    s.pump().await;
    assert_eq!(s.received(), vec![2, 3, 4], "exactly once, in order");
    assert_eq!(s.subscribed(), vec![true]);
    // Caught up: the next message is written by the fan-out itself.
    publish(&bus, "r", 5..=5).await;
    assert_eq!(s.received(), vec![2, 3, 4, 5]);
    let mut inbox = VecDeque::new();
    s.link.take_inbox(&mut inbox);
    assert!(inbox.is_empty(), "no task work for a caught-up room");
}

#[tokio::test(start_paused = true)]
async fn a_gap_is_refilled_from_history_before_the_next_message() {
    let (hub, bus) = hub().await;
    let mut s = Session::open(&hub);
    s.subscribe("r", None).await;
    publish(&bus, "r", 1..=2).await;
    bus.drop_deliveries.store(true, Ordering::SeqCst);
    publish(&bus, "r", 3..=4).await;
    bus.drop_deliveries.store(false, Ordering::SeqCst);
    publish(&bus, "r", 5..=5).await;
    assert_eq!(s.received(), vec![1, 2], "5 waits for the refill");
    s.pump().await;
    assert_eq!(s.received(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn an_epoch_change_restarts_with_a_fresh_snapshot() {
    let (hub, bus) = hub().await;
    let mut s = Session::open(&hub);
    publish(&bus, "r", 1..=2).await;
    s.subscribe("r", None).await;
    bus.lose_everything().await;
    publish(&bus, "r", 10..=11).await;
    s.pump().await;
    assert_eq!(s.subscribed(), vec![false, false], "the restart says so");
    // The old snapshot (2), then the new epoch's snapshot (11): offset 1
    // of the new epoch is older than what the refill read, so skipped.
    assert_eq!(s.received(), vec![2, 11]);
}

#[tokio::test(start_paused = true)]
async fn a_message_delivered_twice_is_written_once() {
    let (hub, bus) = hub().await;
    let mut s = Session::open(&hub);
    s.subscribe("r", None).await;
    publish(&bus, "r", 1..=1).await;
    let again = bus
        .bus()
        .history(&RoomName::new("r").unwrap(), None, 1)
        .await
        .unwrap()
        .messages[0]
        .clone();
    hub.deliver(again);
    s.pump().await;
    assert_eq!(s.received(), vec![1]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_is_closed_and_its_memory_freed_while_others_get_everything() {
    let (hub, bus) = hub().await;
    let mut slow = Session::new(
        &hub,
        Pipe::with_budget(0),
        LinkLimits {
            max_messages: 16,
            max_bytes: 4096,
        },
    );
    let mut fast = Session::open(&hub);
    slow.subscribe("r", None).await;
    fast.subscribe("r", None).await;
    publish(&bus, "r", 1..=100).await;
    assert_eq!(
        slow.link.closed(),
        Some(Closed::Code(CloseCode::SlowConsumer))
    );
    assert!(!slow.link.has_queued(), "its queue is freed");
    fast.pump().await;
    assert_eq!(fast.received(), (1..=100).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn sessions_refilling_after_a_resync_share_one_history_read() {
    let (hub, bus) = hub().await;
    publish(&bus, "r", 1..=3).await;
    let mut sessions: Vec<Session> = Vec::new();
    for _ in 0..20 {
        let mut s = Session::open(&hub);
        s.subscribe("r", None).await;
        sessions.push(s);
    }
    let before = bus.reads.load(Ordering::SeqCst);
    hub.resync_all();
    futures_util::future::join_all(sessions.iter_mut().map(Session::pump)).await;
    assert_eq!(
        bus.reads.load(Ordering::SeqCst) - before,
        1,
        "20 sessions, one read"
    );
    for s in &sessions {
        assert_eq!(s.received(), vec![3], "nothing was missed, nothing resent");
    }
}

#[tokio::test(start_paused = true)]
async fn operator_joins_and_leaves_reach_the_session() {
    let (hub, bus) = hub().await;
    let mut s = Session::open(&hub);
    publish(&bus, "r", 1..=1).await;
    s.link.push(Out::Join(RoomName::new("r").unwrap())).unwrap();
    s.pump().await;
    assert!(s.subs.contains("r"));
    assert_eq!(s.received(), vec![1]);
    s.link
        .push(Out::Leave(RoomName::new("r").unwrap()))
        .unwrap();
    s.pump().await;
    assert!(!s.subs.contains("r"));
    assert_eq!(hub.room_count("r"), 0);
    let last = s.frames().pop().unwrap();
    assert_eq!(last["type"], "unsubscribed");
}

async fn presence_hub(max_members: usize) -> Arc<Hub> {
    let bus = memory();
    let hub = Hub::with_presence(
        bus.clone(),
        Arc::new(GatewayMetrics::new(false)),
        HubConfig {
            lanes: 0,
            history_size: 100,
        },
        super::presence::PresenceConfig {
            rooms: herald_protocol::RoomPatterns::parse(["chat:*"]).unwrap(),
            max_members,
        },
        "n1".into(),
    );
    bus.start(hub.clone()).await.unwrap();
    hub
}

fn user_session(hub: &Arc<Hub>, user: &str) -> Session {
    Session::of(
        hub,
        Some(user),
        Pipe::open(),
        LinkLimits {
            max_messages: 1000,
            max_bytes: 1 << 20,
        },
    )
}

impl Session {
    /// The presence frames received, as `room user action`.
    fn presence(&self) -> Vec<String> {
        self.frames()
            .iter()
            .filter(|f| f["type"] == "presence")
            .map(|f| {
                format!(
                    "{} {} {}",
                    f["room"].as_str().unwrap(),
                    f["user"].as_str().unwrap(),
                    f["action"].as_str().unwrap()
                )
            })
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_presence_room_tells_its_subscribers_of_first_joins_and_last_leaves_only() {
    let hub = presence_hub(100).await;
    let mut watcher = Session::open(&hub);
    watcher.subscribe("chat:1", None).await;
    watcher.subscribe("lobby", None).await;
    let mut tab1 = user_session(&hub, "alice");
    tab1.subscribe("chat:1", None).await;
    tab1.subscribe("lobby", None).await;
    let mut tab2 = user_session(&hub, "alice");
    tab2.subscribe("chat:1", None).await;
    watcher.pump().await;
    assert_eq!(
        watcher.presence(),
        ["chat:1 alice join"],
        "once for two tabs, none for lobby"
    );
    tab1.subs.leave_all();
    watcher.pump().await;
    assert_eq!(
        watcher.presence().len(),
        1,
        "alice is still in with her second tab"
    );
    tab2.subs.unsubscribe(&RoomName::new("chat:1").unwrap());
    watcher.pump().await;
    // The anonymous watcher's own join caused no event.
    assert_eq!(
        watcher.presence(),
        ["chat:1 alice join", "chat:1 alice leave"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_presence_room_past_its_member_cap_goes_quiet() {
    let hub = presence_hub(3).await;
    let mut watcher = Session::open(&hub);
    watcher.subscribe("chat:big", None).await;
    let mut sessions = Vec::new();
    for user in ["bob", "carol", "dave", "erin"] {
        let mut s = user_session(&hub, user);
        s.subscribe("chat:big", None).await;
        sessions.push(s);
    }
    watcher.pump().await;
    assert_eq!(
        watcher.presence(),
        ["chat:big bob join", "chat:big carol join"],
        "a third and fourth member pass the cap of 3"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rooms_users_are_listed_once_with_their_sessions_and_anonymous_apart() {
    let hub = presence_hub(100).await;
    let mut all = vec![Session::open(&hub)];
    for user in ["carol", "alice", "alice", "bob"] {
        all.push(user_session(&hub, user));
    }
    for s in &mut all {
        s.subscribe("lobby", None).await;
    }
    let users = hub.room_users("lobby", 2);
    let listed: Vec<(&str, u64)> = users
        .users
        .iter()
        .map(|u| (u.user.as_str(), u.sessions))
        .collect();
    assert_eq!(listed, [("alice", 2), ("bob", 1)]);
    assert_eq!((users.total, users.anonymous), (3, 1));
    assert_eq!(hub.room_users("nowhere", 2).total, 0);
}
