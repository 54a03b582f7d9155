//! One connection's subscriptions: the rules that turn the hub's live feed
//! plus the bus's history into an ordered stream without gaps or duplicates.
//!
//! Every transport (native WebSocket, Socket.IO) drives a [`Subscriptions`]
//! and turns the [`Emit`]s it yields into its own frames.
//!
//! The rules, per room:
//! - subscribe joins the hub first, then reads history, so the live feed and
//!   the history overlap instead of leaving a gap;
//! - a live message at or below the last offset sent is a duplicate: skipped;
//! - a live message past `last + 1` means something was missed: the gap is
//!   filled from history before it is sent;
//! - a live message from another epoch means the bus lost the room's history:
//!   the client gets `subscribed` with `recovered: false` and a fresh snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use herald_protocol::{Position, RoomName};

use super::Hub;
use super::outbox::{Out, Outbox};
use super::rooms::ConnId;
use crate::bus::{BusError, History, Message};

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
    Message(Arc<Message>),
    /// The connection left a room on an operator's request.
    Unsubscribed {
        /// The room.
        room: RoomName,
    },
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

/// Where the connection stands in one room.
#[derive(Debug, Clone)]
struct Sub {
    /// The epoch the client holds.
    epoch: Arc<str>,
    /// The last offset sent to the client.
    last: u64,
}

/// A connection's rooms and positions.
pub struct Subscriptions {
    /// The hub.
    hub: Arc<Hub>,
    /// This connection's id in the hub.
    conn: ConnId,
    /// This connection's outbox, registered in each room.
    outbox: Arc<Outbox>,
    /// Room → position.
    rooms: HashMap<RoomName, Sub>,
    /// Most rooms allowed.
    max_rooms: usize,
    /// Messages sent as a new subscriber's snapshot.
    snapshot_depth: usize,
    /// Live deliveries handled since the last [`Subscriptions::take_live_done`].
    live_done: Vec<Arc<Message>>,
}

impl Subscriptions {
    /// No rooms yet.
    pub fn new(
        hub: Arc<Hub>,
        conn: ConnId,
        outbox: Arc<Outbox>,
        max_rooms: usize,
        snapshot_depth: usize,
    ) -> Self {
        Self {
            hub,
            conn,
            outbox,
            rooms: HashMap::new(),
            max_rooms,
            snapshot_depth,
            live_done: Vec::new(),
        }
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

    /// The client's position in `room`.
    pub fn position(&self, room: &str) -> Option<Position> {
        self.rooms.get(room).map(|s| Position {
            epoch: s.epoch.to_string(),
            offset: s.last,
        })
    }

    /// Joins `room` (a no-op re-read if already in it) and emits
    /// `Subscribed` followed by the missed messages or the snapshot.
    ///
    /// # Errors
    /// [`SubscribeError`]; the connection is then not in the room.
    pub async fn subscribe(
        &mut self,
        room: RoomName,
        since: Option<Position>,
        id: Option<u64>,
        emit: &mut Vec<Emit>,
    ) -> Result<(), SubscribeError> {
        let already = self.rooms.contains_key(&room);
        if !already && self.rooms.len() >= self.max_rooms {
            return Err(SubscribeError::TooManyRooms(self.max_rooms));
        }
        if !already {
            self.hub.join(&room, self.conn, self.outbox.clone()).await?;
        }
        let history = match self
            .hub
            .history(&room, since.as_ref(), self.snapshot_depth)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                if !already {
                    self.hub.leave(&room, self.conn);
                }
                return Err(e.into());
            }
        };
        self.start(room, history, id, emit);
        Ok(())
    }

    /// Leaves `room`. Returns whether the connection was in it.
    pub fn unsubscribe(&mut self, room: &RoomName) -> bool {
        if self.rooms.remove(room).is_some() {
            self.hub.leave(room, self.conn);
            true
        } else {
            false
        }
    }

    /// Leaves every room.
    pub fn leave_all(&mut self) {
        for (room, _) in self.rooms.drain() {
            self.hub.leave(&room, self.conn);
        }
    }

    /// Handles one item from the outbox.
    pub async fn on_out(&mut self, out: Out, emit: &mut Vec<Emit>) {
        match out {
            Out::Msg(msg) => self.on_message(msg, emit).await,
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
            // Transports that can ask (Socket.IO) take asks before this.
            Out::Ask(ask) => {
                ask.refused(&self.session_id(), "this transport has no acknowledgements")
            }
            Out::Resync => {
                let rooms: Vec<(RoomName, Sub)> = self
                    .rooms
                    .iter()
                    .map(|(r, s)| (r.clone(), s.clone()))
                    .collect();
                for (room, sub) in rooms {
                    self.refill(&room, &sub, emit).await;
                }
            }
        }
    }

    /// This connection's session id.
    fn session_id(&self) -> String {
        self.hub.session_id(self.conn).unwrap_or_default()
    }

    /// Live messages handled (sent or skipped) since the last call, for the
    /// transport to mark written once its writes are flushed.
    pub fn take_live_done(&mut self) -> Vec<Arc<Message>> {
        std::mem::take(&mut self.live_done)
    }

    async fn on_message(&mut self, msg: Arc<Message>, emit: &mut Vec<Emit>) {
        self.live_done.push(msg.clone());
        let Some(sub) = self.rooms.get(&msg.room).cloned() else {
            return;
        };
        if sub.epoch != msg.epoch || msg.offset > sub.last + 1 {
            self.refill(&msg.room, &sub, emit).await;
        }
        if let Some(sub) = self.rooms.get_mut(&msg.room)
            && sub.epoch == msg.epoch
            && msg.offset == sub.last + 1
        {
            sub.last = msg.offset;
            emit.push(Emit::Message(msg));
        }
    }

    /// Re-reads `room` after `sub`'s position: sends what is missing, or a
    /// fresh snapshot when that is gone.
    async fn refill(&mut self, room: &RoomName, sub: &Sub, emit: &mut Vec<Emit>) {
        let since = Position {
            epoch: sub.epoch.to_string(),
            offset: sub.last,
        };
        match self
            .hub
            .history(room, Some(&since), self.snapshot_depth)
            .await
        {
            Ok(history) if history.recovered => {
                let last = self.send_after(room, sub.last, &history.messages, emit);
                if let Some(s) = self.rooms.get_mut(room) {
                    s.last = last;
                }
            }
            Ok(history) => self.start(room.clone(), history, None, emit),
            Err(e) => {
                tracing::warn!(%room, error = %e, "could not refill a gap; will retry on the next message")
            }
        }
    }

    fn start(&mut self, room: RoomName, history: History, id: Option<u64>, emit: &mut Vec<Emit>) {
        emit.push(Emit::Subscribed {
            room: room.clone(),
            epoch: history.epoch.clone(),
            offset: history.offset,
            recovered: history.recovered,
            id,
        });
        for m in &history.messages {
            emit.push(Emit::Message(m.clone()));
        }
        self.rooms.insert(
            room,
            Sub {
                epoch: history.epoch,
                last: history.offset,
            },
        );
    }

    fn send_after(
        &self,
        _room: &RoomName,
        last: u64,
        messages: &[Arc<Message>],
        emit: &mut Vec<Emit>,
    ) -> u64 {
        let mut last = last;
        for m in messages {
            if m.offset == last + 1 {
                last = m.offset;
                emit.push(Emit::Message(m.clone()));
            }
        }
        last
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.leave_all();
        let done = std::mem::take(&mut self.live_done);
        finish_live(&self.hub, &done);
    }
}

/// Marks live deliveries written: the last subscriber of each message
/// records the fan-out and end-to-end latency.
pub fn finish_live(hub: &Hub, done: &[Arc<Message>]) {
    let metrics = hub.metrics();
    for msg in done {
        if msg.fanout_done(1) {
            metrics.fanout.record(msg.arrived.elapsed().as_secs_f64());
            let src = msg.src_ts_ms.unwrap_or(msg.ts_ms) as f64 / 1000.0;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metrics.end_to_end.record((now - src).max(0.0));
        }
    }
}
