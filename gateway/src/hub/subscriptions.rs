//! One connection's subscriptions: the rules that turn the hub's live feed
//! plus the bus's history into an ordered stream without gaps or duplicates.
//!
//! Every transport drives a [`Subscriptions`] from its connection task and
//! turns the [`Emit`]s it yields into its own frames. The fan-out writes a
//! room's messages straight to the socket while the connection is caught
//! up in that room (its slot is *live*, see `transport::link`); everything
//! else comes here, through the link's inbox.
//!
//! The rules, per room:
//! - subscribe joins the hub first, then reads history, so the live feed and
//!   the history overlap instead of leaving a gap; until the history is
//!   written the slot is held, and live messages wait in the inbox;
//! - a live message at or below the last offset sent is a duplicate: skipped;
//! - a live message past `last + 1` means something was missed: the gap is
//!   filled from history before it is sent;
//! - a live message from another epoch means the bus lost the room's history:
//!   the client gets `subscribed` with `recovered: false` and a fresh snapshot;
//! - once written, [`Subscriptions::settle`] puts the slot back on the
//!   direct path.

use std::collections::HashMap;
use std::sync::Arc;

use herald_bus::BusError;
use herald_protocol::native::ErrorCode;
use herald_protocol::{Position, RoomName};

use super::rooms::ConnId;
use super::{History, Hub};
use crate::transport::frames::Broadcast;
use crate::transport::link::{Link, Out, SlotId};

/// Something the transport must send, in order.
#[derive(Debug, Clone)]
pub enum Emit {
    /// The subscription (re)started at this position.
    Subscribed {
        /// The room.
        room: RoomName,
        /// The room's epoch.
        epoch: Arc<str>,
        /// The room's latest offset when read.
        offset: u64,
        /// Whether what follows is exactly what the client missed.
        recovered: bool,
        /// The request id to echo, for a client's own subscribe.
        id: Option<u64>,
    },
    /// A message to send.
    Message {
        /// The message.
        b: Arc<Broadcast>,
        /// A live delivery (its fan-out completes when written), not history.
        live: bool,
    },
    /// The connection left a room on an operator's request.
    Unsubscribed {
        /// The room.
        room: RoomName,
    },
    /// A user joined or left a presence room the connection is in.
    Presence(Arc<herald_protocol::bus::PresenceEvent>),
}

/// Why a subscribe failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The connection is in as many rooms as allowed.
    #[error("this connection is already in {0} rooms, the most allowed")]
    TooManyRooms(usize),
    /// The bus could not be read.
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl SubscribeError {
    /// The error code every protocol answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooManyRooms(_) => ErrorCode::TooManyRooms,
            Self::Bus(_) => ErrorCode::BusUnavailable,
        }
    }
}

/// A connection's rooms and positions.
pub struct Subscriptions {
    /// The hub.
    hub: Arc<Hub>,
    /// This connection's id in the hub.
    conn: ConnId,
    /// This connection's write side, where positions live.
    link: Arc<Link>,
    /// Room → its slot in the link, and the tick of the join.
    rooms: HashMap<RoomName, (SlotId, u64)>,
    /// Slots taken off the direct path, to settle once written.
    held: Vec<SlotId>,
    /// Most rooms allowed.
    max_rooms: usize,
    /// Messages sent as a new subscriber's snapshot.
    snapshot_depth: usize,
    /// Live deliveries this task handled without writing (duplicates, or
    /// for rooms no longer joined), to complete.
    skipped: Vec<Arc<Broadcast>>,
}

impl Subscriptions {
    /// No rooms yet.
    pub fn new(
        hub: Arc<Hub>,
        conn: ConnId,
        link: Arc<Link>,
        max_rooms: usize,
        snapshot_depth: usize,
    ) -> Self {
        Self {
            hub,
            conn,
            link,
            rooms: HashMap::new(),
            held: Vec::new(),
            max_rooms,
            snapshot_depth,
            skipped: Vec::new(),
        }
    }

    /// The hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// How many rooms the connection is in.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether the connection is in no room.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Whether the connection is in `room`.
    pub fn contains(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// The rooms the connection is in.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomName> {
        self.rooms.keys()
    }

    /// The room's slot in the link.
    pub fn slot(&self, room: &str) -> Option<SlotId> {
        self.rooms.get(room).map(|(s, _)| *s)
    }

    /// When the connection joined `room` (a tick for [`Hub::history`]).
    pub fn joined(&self, room: &str) -> Option<u64> {
        self.rooms.get(room).map(|(_, t)| *t)
    }

    /// The client's position in `room`.
    pub fn position(&self, room: &str) -> Option<Position> {
        let slot = self.slot(room)?;
        self.link.position(slot).map(|(epoch, offset)| Position {
            epoch: epoch.to_string(),
            offset,
        })
    }

    /// Joins `room` (a re-read if already in it) and emits `Subscribed`
    /// followed by the missed messages or the snapshot. Returns the slot.
    ///
    /// # Errors
    /// [`SubscribeError`]; the connection is then not in the room (or, if
    /// it already was, still is, unchanged).
    pub async fn subscribe(
        &mut self,
        room: RoomName,
        since: Option<Position>,
        id: Option<u64>,
        emit: &mut Vec<Emit>,
    ) -> Result<SlotId, SubscribeError> {
        let new = !self.rooms.contains_key(&room);
        let (slot, joined) = match self.rooms.get(&room) {
            Some(&(slot, joined)) => {
                self.link.hold(slot);
                (slot, joined)
            }
            None => {
                if self.rooms.len() >= self.max_rooms {
                    return Err(SubscribeError::TooManyRooms(self.max_rooms));
                }
                let slot = self.link.add_slot(room.clone(), Arc::from(""), 0);
                let joined = match self
                    .hub
                    .join(&room, self.conn, self.link.clone(), slot)
                    .await
                {
                    Ok(tick) => tick,
                    Err(e) => {
                        self.link.remove_slot(slot);
                        return Err(e.into());
                    }
                };
                self.rooms.insert(room.clone(), (slot, joined));
                (slot, joined)
            }
        };
        self.hold(slot);
        let history = match self
            .hub
            .history(&room, since.as_ref(), self.snapshot_depth, joined)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                if new {
                    self.unsubscribe(&room);
                }
                return Err(e.into());
            }
        };
        self.start(&room, slot, history, id, emit);
        Ok(slot)
    }

    /// Leaves `room`. Returns whether the connection was in it.
    pub fn unsubscribe(&mut self, room: &RoomName) -> bool {
        let Some((slot, _)) = self.rooms.remove(room) else {
            return false;
        };
        self.hub.leave(room, self.conn);
        self.link.remove_slot(slot);
        self.held.retain(|s| *s != slot);
        true
    }

    /// Leaves every room.
    pub fn leave_all(&mut self) {
        let rooms: Vec<RoomName> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.unsubscribe(&room);
        }
    }

    /// Handles one item from the link's inbox.
    pub async fn on_out(&mut self, out: Out, emit: &mut Vec<Emit>) {
        match out {
            Out::Msg(b) => self.on_message(b, emit).await,
            Out::Join(room) => {
                if self
                    .subscribe(room.clone(), None, None, emit)
                    .await
                    .is_err()
                {
                    tracing::debug!(%room, "operator join failed");
                }
            }
            Out::Leave(room) => {
                if self.unsubscribe(&room) {
                    emit.push(Emit::Unsubscribed { room });
                }
            }
            Out::Presence(event) => {
                if self.rooms.contains_key(event.room.as_str()) {
                    emit.push(Emit::Presence(event));
                }
            }
            // Transports that can ask (Socket.IO) take asks before this.
            Out::Ask(ask) => ask.refused(self.link.sid(), "this transport has no acknowledgements"),
            Out::Resync => {
                let rooms: Vec<(RoomName, SlotId)> = self
                    .rooms
                    .iter()
                    .map(|(r, (s, _))| (r.clone(), *s))
                    .collect();
                for (room, slot) in rooms {
                    self.link.hold(slot);
                    self.hold(slot);
                    self.refill(&room, slot, emit).await;
                }
            }
        }
    }

    /// Call once the emits produced so far are written: puts held slots
    /// back on the direct path (those with inbox messages left stay held
    /// until the next turn), and completes the deliveries skipped here.
    pub fn settle(&mut self) {
        let link = &self.link;
        self.held.retain(|&slot| !link.go_live(slot));
        if !self.skipped.is_empty() {
            let skipped = std::mem::take(&mut self.skipped);
            crate::transport::accounting::dropped(self.hub.metrics(), &skipped);
        }
    }

    /// Takes `room` off the direct path until the next [`Subscriptions::settle`]
    /// (a transport writing something of its own for the room first).
    pub fn hold_room(&mut self, room: &str) {
        if let Some(slot) = self.slot(room) {
            self.link.hold(slot);
            self.hold(slot);
        }
    }

    fn hold(&mut self, slot: SlotId) {
        if !self.held.contains(&slot) {
            self.held.push(slot);
        }
    }

    async fn on_message(&mut self, b: Arc<Broadcast>, emit: &mut Vec<Emit>) {
        let Some(slot) = self.slot(&b.room) else {
            self.skipped.push(b);
            return;
        };
        self.hold(slot);
        let Some((epoch, last)) = self.link.position(slot) else {
            self.skipped.push(b);
            return;
        };
        if epoch != b.epoch || b.offset > last + 1 {
            let room = b.room.clone();
            self.refill(&room, slot, emit).await;
        }
        match self.link.position(slot) {
            Some((epoch, last)) if epoch == b.epoch && b.offset == last + 1 => {
                self.link.set_position(slot, epoch, b.offset);
                emit.push(Emit::Message { b, live: true });
            }
            _ => self.skipped.push(b),
        }
    }

    /// Re-reads `room` after the slot's position: sends what is missing, or
    /// a fresh snapshot when that is gone.
    async fn refill(&mut self, room: &RoomName, slot: SlotId, emit: &mut Vec<Emit>) {
        let Some((epoch, last)) = self.link.position(slot) else {
            return;
        };
        let joined = self.joined(room).unwrap_or(0);
        let since = Position {
            epoch: epoch.to_string(),
            offset: last,
        };
        match self
            .hub
            .history(room, Some(&since), self.snapshot_depth, joined)
            .await
        {
            Ok(history) if history.recovered => {
                let mut last = last;
                for m in &history.messages {
                    if m.offset == last + 1 {
                        last = m.offset;
                        self.emit_history(m, emit);
                    }
                }
                self.link.set_position(slot, epoch, last);
            }
            Ok(history) => self.start(room, slot, history, None, emit),
            Err(e) => {
                tracing::warn!(%room, error = %e, "could not refill a gap; will retry on the next message")
            }
        }
    }

    fn start(
        &mut self,
        room: &RoomName,
        slot: SlotId,
        history: History,
        id: Option<u64>,
        emit: &mut Vec<Emit>,
    ) {
        emit.push(Emit::Subscribed {
            room: room.clone(),
            epoch: history.epoch.clone(),
            offset: history.offset,
            recovered: history.recovered,
            id,
        });
        for m in &history.messages {
            self.emit_history(m, emit);
        }
        self.link.set_position(slot, history.epoch, history.offset);
    }

    /// A snapshot or refill message for the session. It is counted as
    /// delivered here, as it is handed to the connection: it completes no
    /// fan-out, so no write accounts for it later.
    fn emit_history(&self, m: &Arc<Broadcast>, emit: &mut Vec<Emit>) {
        self.hub.metrics().count_delivered(self.link.transport(), 1);
        emit.push(Emit::Message {
            b: m.clone(),
            live: false,
        });
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.leave_all();
        self.settle();
    }
}
