//! The hub: this node's rooms, its live sessions, and the bus sink that
//! fans each publication out to the local subscribers.
//!
//! - [`rooms`]: the sharded room map (room → local subscribers).
//! - [`outbox`]: each connection's bounded outgoing queue.
//! - [`subscriptions`]: one connection's per-room positions, shared by
//!   every transport, which turn the live feed and history into an ordered,
//!   gap-free, duplicate-free stream.
//! - [`ask`]: emits that wait for the clients' acknowledgements.

pub mod ask;
pub mod outbox;
pub mod rooms;
pub mod subscriptions;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use herald_protocol::RoomName;
use herald_protocol::bus::{Control, ControlTarget};
use herald_protocol::native::CloseCode;

use serde_json::Value;
use tokio::time::Instant;

use crate::bus::{Bus, BusError, History, Message, Sink};
use crate::metrics::GatewayMetrics;
use ask::Pending;
use outbox::{Out, Outbox, Push};
use rooms::{ConnId, Rooms};

/// What the hub knows of a live session, for cluster-wide commands.
pub struct SessionEntry {
    /// The session id clients see.
    pub session: String,
    /// The user the session authenticated as, if any.
    pub user: Option<String>,
    /// Its outbox.
    pub outbox: Arc<Outbox>,
}

/// This node's rooms and sessions.
pub struct Hub {
    /// Room → local subscribers.
    rooms: Rooms,
    /// Live sessions by connection id.
    sessions: DashMap<ConnId, SessionEntry>,
    /// The bus.
    bus: Arc<dyn Bus>,
    /// Metric handles.
    metrics: Arc<GatewayMetrics>,
    /// Next connection id.
    next_conn: AtomicU64,
    /// Live (connection, room) pairs.
    subscriptions: AtomicU64,
}

impl Hub {
    /// A hub on `bus`. Call [`Bus::start`] with it as the sink.
    pub fn new(bus: Arc<dyn Bus>, metrics: Arc<GatewayMetrics>) -> Arc<Self> {
        Arc::new(Self {
            rooms: Rooms::default(),
            sessions: DashMap::new(),
            bus,
            metrics,
            next_conn: AtomicU64::new(1),
            subscriptions: AtomicU64::new(0),
        })
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Metric handles.
    pub fn metrics(&self) -> &Arc<GatewayMetrics> {
        &self.metrics
    }

    /// Registers a session and returns its connection id.
    pub fn register(&self, session: String, user: Option<String>, outbox: Arc<Outbox>) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.sessions.insert(
            id,
            SessionEntry {
                session,
                user,
                outbox,
            },
        );
        id
    }

    /// Forgets a session (its rooms must have been left first).
    pub fn unregister(&self, conn: ConnId) {
        self.sessions.remove(&conn);
    }

    /// The session id of a live connection.
    pub fn session_id(&self, conn: ConnId) -> Option<String> {
        self.sessions.get(&conn).map(|s| s.session.clone())
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Adds `conn` to `room` and makes sure the bus delivers the room here.
    ///
    /// # Errors
    /// [`BusError`] when the bus could not start delivering the room; the
    /// connection is then not a member.
    pub async fn join(
        &self,
        room: &RoomName,
        conn: ConnId,
        outbox: Arc<Outbox>,
    ) -> Result<(), BusError> {
        let (watched, added) = self.rooms.insert(room, conn, outbox);
        if added {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        let result = watched
            .get_or_try_init(|| async { self.bus.watch(room).await })
            .await;
        self.update_gauges();
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                self.leave(room, conn);
                Err(e)
            }
        }
    }

    /// Removes `conn` from `room`; the last local member stops the bus feed.
    pub fn leave(&self, room: &RoomName, conn: ConnId) {
        let (removed, unwatch) = self.rooms.remove(room, conn);
        if removed {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        if unwatch {
            self.bus.unwatch(room);
        }
        self.update_gauges();
    }

    /// What a subscriber to `room` should get (see [`Bus::history`]).
    ///
    /// # Errors
    /// [`BusError`] when the bus cannot be read.
    pub async fn history(
        &self,
        room: &RoomName,
        since: Option<&herald_protocol::Position>,
        limit: usize,
    ) -> Result<History, BusError> {
        self.bus.history(room, since, limit).await
    }

    /// Local member count of a room.
    pub fn room_count(&self, room: &str) -> usize {
        self.rooms.count(room)
    }

    /// Session ids of the local members of `room`.
    pub fn room_sessions(&self, room: &str) -> Vec<String> {
        let conns: Vec<ConnId> = self
            .rooms
            .with_members(room, |m| m.keys().copied().collect())
            .unwrap_or_default();
        conns
            .iter()
            .filter_map(|c| self.sessions.get(c).map(|s| s.session.clone()))
            .collect()
    }

    /// Closes every session with `code` (shutdown).
    pub fn close_all(&self, code: CloseCode) {
        for s in self.sessions.iter() {
            s.outbox.close(code);
        }
    }

    fn update_gauges(&self) {
        self.metrics.rooms.set(self.rooms.len() as f64);
        self.metrics
            .subscriptions
            .set(self.subscriptions.load(Ordering::Relaxed) as f64);
    }

    fn for_target(&self, target: &ControlTarget, mut f: impl FnMut(&Arc<Outbox>)) {
        match target {
            ControlTarget::Room(room) => {
                self.rooms
                    .with_members(room, |m| m.values().for_each(&mut f));
            }
            ControlTarget::User(user) => self
                .sessions
                .iter()
                .filter(|s| s.user.as_deref() == Some(user.as_str()))
                .for_each(|s| f(&s.outbox)),
            ControlTarget::Session(id) => self
                .sessions
                .iter()
                .filter(|s| s.session == *id)
                .for_each(|s| f(&s.outbox)),
        }
    }
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Sink for Hub {
    fn deliver(&self, msg: Arc<Message>) {
        let now = unix_seconds();
        self.metrics.last_delivery.set(now);
        self.metrics
            .bus_lag
            .record((now - msg.ts_ms as f64 / 1000.0).max(0.0));
        // The byte cost every queue is charged; encoding here also means the
        // subscribers' tasks find the frame ready.
        let cost = msg.json_frame().len();
        let outcome = self.rooms.with_members(&msg.room, |members| {
            msg.begin_fanout(members.len());
            let mut refused = 0;
            let mut overflowed = 0;
            for outbox in members.values() {
                match outbox.push(Out::Msg(msg.clone()), cost) {
                    Push::Queued => {}
                    Push::Overflowed => {
                        refused += 1;
                        overflowed += 1;
                    }
                    Push::Closed => refused += 1,
                }
            }
            (refused, overflowed)
        });
        if let Some((refused, overflowed)) = outcome {
            if overflowed > 0 {
                self.metrics.slow_consumers.increment(overflowed);
            }
            if msg.fanout_done(refused as usize + 1) {
                self.metrics
                    .fanout
                    .record(msg.arrived.elapsed().as_secs_f64());
            }
        }
    }

    fn control(&self, cmd: Control) {
        match cmd {
            Control::Disconnect { target, .. } => {
                self.for_target(&target, |o| o.close(CloseCode::Kicked))
            }
            Control::Join { target, room } => {
                if let Ok(room) = RoomName::new(&room) {
                    self.for_target(&target, |o| {
                        o.push(Out::Join(room.clone()), 0);
                    });
                }
            }
            Control::Leave { target, room } => {
                if let Ok(room) = RoomName::new(&room) {
                    self.for_target(&target, |o| {
                        o.push(Out::Leave(room.clone()), 0);
                    });
                }
            }
        }
    }

    fn resync_all(&self) {
        for s in self.sessions.iter() {
            s.outbox.push(Out::Resync, 0);
        }
    }

    fn ask(
        &self,
        target: &ControlTarget,
        event: String,
        data: Value,
        deadline: Instant,
    ) -> Pending {
        let mut outboxes = Vec::new();
        self.for_target(target, |o| outboxes.push(o.clone()));
        let room = match target {
            ControlTarget::Room(r) => RoomName::new(r).ok(),
            _ => None,
        };
        let (ask, mut pending) = Pending::new(room, event, data, deadline, outboxes.len());
        pending.sent = outboxes
            .iter()
            .filter(|o| o.push(Out::Ask(ask.clone()), 0) == Push::Queued)
            .count();
        pending
    }
}
