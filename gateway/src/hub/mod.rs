//! The hub: this node's rooms, its live sessions, and the bus sink that
//! fans each publication out to the local subscribers.
//!
//! - [`rooms`]: the sharded room map (room → local subscribers).
//! - [`fanout`]: one broadcast offered to every subscriber of its room,
//!   split across lanes for large rooms.
//! - [`subscriptions`]: one connection's rooms and the ordering rules
//!   (join before history, overlap, gaps, epochs), shared by every
//!   transport.
//! - [`flight`]: single-flight history reads.
//! - [`presence`]: users per presence room, their join and leave events.

pub mod fanout;
pub mod flight;
pub mod presence;
pub mod rooms;
pub mod subscriptions;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use herald_bus::ask::Pending;
use herald_bus::{Bus, BusError, Message, Sink};
use herald_protocol::bus::presence::local_users;
use herald_protocol::bus::{Control, ControlTarget, PresenceEvent, RoomUsers};
use herald_protocol::native::CloseCode;
use herald_protocol::{Position, RoomName};
use serde_json::Value;
use tokio::time::Instant;

use crate::metrics::GatewayMetrics;
use crate::transport::frames::Broadcast;
use crate::transport::link::{Link, Out, SlotId};
use fanout::Fanout;
use flight::SingleFlight;
use presence::{Change, Presence, PresenceConfig};
use rooms::{ConnId, Member, Rooms};

/// What a subscriber gets when it joins or rejoins a room: the bus's
/// [`herald_bus::History`], with each message ready to encode.
#[derive(Debug, Clone)]
pub struct History {
    /// The room's current epoch.
    pub epoch: Arc<str>,
    /// The room's latest offset (0 when nothing was ever published).
    pub offset: u64,
    /// Messages to deliver, oldest first (see [`herald_bus::History`]).
    pub messages: Vec<Arc<Broadcast>>,
    /// Whether `messages` is exactly everything after the asked position.
    pub recovered: bool,
}

/// What the hub knows of a live session, for cluster-wide commands.
pub struct SessionEntry {
    /// The user the session authenticated as, if any.
    pub user: Option<String>,
    /// Its write side (which also knows the session id).
    pub link: Arc<Link>,
}

/// How the hub is set up.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Extra fan-out threads for large rooms (0: the deliverer writes all).
    pub lanes: usize,
    /// Messages the bus keeps per room: a recovery read takes them all,
    /// once, for every session that needs them.
    pub history_size: usize,
}

/// Which read of a room's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Read {
    /// The latest `n` messages (a subscribe without a position).
    Snapshot(usize),
    /// Everything the bus holds (recoveries and refills pick from it).
    Tail,
}

/// A read's result, shared by the sessions that asked together.
#[derive(Debug, Clone)]
struct Held {
    /// The room's epoch.
    epoch: Arc<str>,
    /// Its latest offset.
    latest: u64,
    /// The messages read, oldest first.
    messages: Arc<VecDeque<Arc<Broadcast>>>,
    /// A live collection's set as one message at `latest`: what a
    /// subscriber that does not recover gets instead of `messages`.
    snapshot: Option<Arc<Broadcast>>,
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
    /// Writes broadcasts to subscribers.
    fanout: Fanout,
    /// Coalesces history reads.
    flights: SingleFlight<(RoomName, Read), Held, BusError>,
    /// The setup.
    config: HubConfig,
    /// Next connection id.
    next_conn: AtomicU64,
    /// Live (connection, room) pairs.
    subscriptions: AtomicU64,
    /// Users of presence rooms, and their join and leave events.
    presence: Presence,
}

impl Hub {
    /// A hub on `bus`, without presence rooms. Call [`Bus::start`] with it
    /// as the sink.
    pub fn new(bus: Arc<dyn Bus>, metrics: Arc<GatewayMetrics>, config: HubConfig) -> Arc<Self> {
        Self::with_presence(
            bus,
            metrics,
            config,
            PresenceConfig::default(),
            String::new(),
        )
    }

    /// A hub on `bus` whose presence rooms announce joins and leaves as
    /// node `node`.
    pub fn with_presence(
        bus: Arc<dyn Bus>,
        metrics: Arc<GatewayMetrics>,
        config: HubConfig,
        presence: PresenceConfig,
        node: String,
    ) -> Arc<Self> {
        let fanout = Fanout::new(config.lanes, metrics.clone());
        Arc::new(Self {
            rooms: Rooms::new(fanout.parts()),
            sessions: DashMap::new(),
            bus,
            metrics,
            fanout,
            flights: SingleFlight::default(),
            config,
            next_conn: AtomicU64::new(1),
            subscriptions: AtomicU64::new(0),
            presence: Presence::new(presence, node),
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
    pub fn register(&self, user: Option<String>, link: Arc<Link>) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.sessions.insert(id, SessionEntry { user, link });
        id
    }

    /// Sets the user a live session authenticated as (a token arrived
    /// after the session registered).
    pub fn set_user(&self, conn: ConnId, user: Option<String>) {
        if let Some(mut entry) = self.sessions.get_mut(&conn) {
            entry.user = user;
        }
    }

    /// Forgets a session (its rooms must have been left first).
    pub fn unregister(&self, conn: ConnId) {
        self.sessions.remove(&conn);
    }

    /// The session id of a live connection.
    pub fn session_id(&self, conn: ConnId) -> Option<Arc<str>> {
        self.sessions.get(&conn).map(|s| s.link.sid().clone())
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Adds `conn` (its room slot `slot` in `link`) to `room` and makes
    /// sure the bus delivers the room here. From then on the fan-out
    /// offers the room's messages to the slot. Returns the join's tick, for
    /// [`Hub::history`].
    ///
    /// # Errors
    /// [`BusError`] when the bus could not start delivering the room; the
    /// connection is then not a member.
    pub async fn join(
        &self,
        room: &RoomName,
        conn: ConnId,
        link: Arc<Link>,
        slot: SlotId,
    ) -> Result<u64, BusError> {
        let user = self
            .sessions
            .get(&conn)
            .and_then(|s| s.user.as_deref().map(Arc::from));
        let member = Member {
            conn,
            link,
            slot,
            user: user.clone(),
        };
        let (r, added) = self.rooms.insert(room, member);
        if added {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        let watched = r.watched.clone();
        let members = r.len();
        drop(r);
        if added && let Some(user) = &user {
            self.announce(self.presence.joined(room, user, members));
        }
        let result = watched
            .get_or_try_init(|| async { self.bus.watch(room).await })
            .await;
        self.update_gauges();
        match result {
            Ok(()) => Ok(self.flights.tick()),
            Err(e) => {
                self.leave(room, conn);
                Err(e)
            }
        }
    }

    /// Removes `conn` from `room`; the last local member stops the bus feed.
    pub fn leave(&self, room: &RoomName, conn: ConnId) {
        let (removed, unwatch) = self.rooms.remove(room, conn);
        if let Some(m) = &removed {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
            if let Some(user) = &m.user {
                let members = self.rooms.count(room);
                self.announce(self.presence.left(room, user, members));
            }
        }
        if unwatch {
            self.bus.unwatch(room);
        }
        self.update_gauges();
    }

    /// What a subscriber to `room` at `since` should get (see
    /// [`Bus::history`]). `joined` is the tick [`Hub::join`] returned:
    /// sessions asking at the same time share one bus read begun after
    /// they joined (see [`flight`]).
    ///
    /// # Errors
    /// [`BusError`] when the bus cannot be read.
    pub async fn history(
        &self,
        room: &RoomName,
        since: Option<&Position>,
        limit: usize,
        joined: u64,
    ) -> Result<History, BusError> {
        let read = match since {
            None => Read::Snapshot(limit),
            Some(_) => Read::Tail,
        };
        let depth = match read {
            Read::Snapshot(n) => n,
            Read::Tail => self.config.history_size.max(limit),
        };
        let held = self
            .flights
            .run((room.clone(), read), joined, || async {
                let h = self.bus.history(room, None, depth).await?;
                Ok(Held {
                    epoch: h.epoch,
                    latest: h.offset,
                    messages: Arc::new(h.messages.into_iter().map(Broadcast::new).collect()),
                    snapshot: h.snapshot.map(Broadcast::new),
                })
            })
            .await?;
        let (mut messages, recovered) = herald_bus::select(
            &held.epoch,
            held.latest,
            &held.messages,
            since,
            limit,
            |b| b.offset,
        );
        if let (false, Some(set)) = (recovered, &held.snapshot) {
            messages = vec![set.clone()];
        }
        Ok(History {
            epoch: held.epoch,
            offset: held.latest,
            messages,
            recovered,
        })
    }

    /// Local member count of a room.
    pub fn room_count(&self, room: &str) -> usize {
        self.rooms.count(room)
    }

    /// The local users of `room`: the first `limit` in byte order with
    /// their sessions, the distinct total and the anonymous sessions.
    pub fn room_users(&self, room: &str, limit: usize) -> RoomUsers {
        let mut users: BTreeMap<Arc<str>, u64> = BTreeMap::new();
        let mut anonymous = 0;
        if let Some(r) = self.rooms.get(room) {
            r.for_each(|m| match &m.user {
                Some(u) => *users.entry(u.clone()).or_default() += 1,
                None => anonymous += 1,
            });
        }
        local_users(&users, anonymous, limit)
    }

    /// Hands a presence change to the bus, which tells every node.
    fn announce(&self, change: Change) {
        match change {
            Change::None => {}
            Change::Announce(event) => {
                if !self.bus.presence(event) {
                    self.metrics.presence_event("dropped");
                }
            }
            Change::Dropped => self.metrics.presence_event("dropped"),
        }
    }

    /// Session ids of the local members of `room`.
    pub fn room_sessions(&self, room: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = self.rooms.get(room) {
            r.for_each(|m| out.push(m.link.sid().to_string()));
        }
        out
    }

    /// Closes every session with `code` (shutdown).
    pub fn close_all(&self, code: CloseCode) {
        for s in self.sessions.iter() {
            s.link.close(code);
        }
    }

    /// Stops the fan-out lanes (after every session ended).
    pub fn stop(&self) {
        self.fanout.stop();
    }

    fn update_gauges(&self) {
        self.metrics.rooms.set(self.rooms.len() as f64);
        self.metrics
            .subscriptions
            .set(self.subscriptions.load(Ordering::Relaxed) as f64);
    }

    fn for_target(&self, target: &ControlTarget, mut f: impl FnMut(&Arc<Link>)) {
        match target {
            ControlTarget::Room(room) => {
                if let Some(r) = self.rooms.get(room) {
                    r.for_each(|m| f(&m.link));
                }
            }
            ControlTarget::User(user) => self
                .sessions
                .iter()
                .filter(|s| s.user.as_deref() == Some(user.as_str()))
                .for_each(|s| f(&s.link)),
            ControlTarget::Session(id) => self
                .sessions
                .iter()
                .filter(|s| **s.link.sid() == **id)
                .for_each(|s| f(&s.link)),
        }
    }
}

impl Sink for Hub {
    fn deliver(&self, msg: Arc<Message>) {
        let now = herald_service::clock::unix_seconds();
        self.metrics.last_delivery.set(now);
        self.metrics
            .bus_lag
            .record((now - msg.ts_ms as f64 / 1000.0).max(0.0));
        let Some(room) = self.rooms.get(&msg.room) else {
            return;
        };
        self.fanout.deliver(&room, &Broadcast::new(msg));
    }

    fn control(&self, cmd: Control) {
        match cmd {
            Control::Disconnect { target, .. } => {
                self.for_target(&target, |l| l.close(CloseCode::Kicked))
            }
            Control::Join { target, room } => {
                if let Ok(room) = RoomName::new(&room) {
                    self.for_target(&target, |l| {
                        let _ = l.push(Out::Join(room.clone()));
                    });
                }
            }
            Control::Leave { target, room } => {
                if let Ok(room) = RoomName::new(&room) {
                    self.for_target(&target, |l| {
                        let _ = l.push(Out::Leave(room.clone()));
                    });
                }
            }
        }
    }

    fn presence(&self, event: PresenceEvent) {
        let Ok(name) = RoomName::new(&event.room) else {
            return;
        };
        if !self.presence.tracks(&name) {
            return;
        }
        let Some(room) = self.rooms.get(&event.room) else {
            return;
        };
        if !self.presence.small_enough(room.len()) {
            self.metrics.presence_event("dropped");
            return;
        }
        self.metrics.presence_event("delivered");
        let event = Arc::new(event);
        room.for_each(|m| {
            let _ = m.link.push(Out::Presence(event.clone()));
        });
    }

    fn resync_all(&self) {
        for s in self.sessions.iter() {
            let _ = s.link.push(Out::Resync);
        }
    }

    fn ask(
        &self,
        target: &ControlTarget,
        event: String,
        data: Value,
        deadline: Instant,
    ) -> Pending {
        let mut links = Vec::new();
        self.for_target(target, |l| links.push(l.clone()));
        let room = match target {
            ControlTarget::Room(r) => RoomName::new(r).ok(),
            _ => None,
        };
        let (ask, mut pending) = Pending::new(room, event, data, deadline, links.len());
        pending.sent = links
            .iter()
            .filter(|l| l.push(Out::Ask(ask.clone())).is_ok())
            .count();
        pending
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.fanout.stop();
    }
}

#[cfg(test)]
mod tests;
