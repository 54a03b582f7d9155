//! The contract between publishers, the bus and the node that receives
//! what the bus reads: [`Bus`] and [`Sink`].

use std::sync::Arc;

use async_trait::async_trait;
use herald_protocol::bus::{Control, ControlTarget, PresenceEvent, Publication};
use herald_protocol::{Position, RoomName};
use serde_json::Value;
use tokio::time::Instant;

use crate::ask::Pending;
use crate::{BusError, History, Message, StoredSet};

/// The bus's own view of its health, for `/readyz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusHealth {
    /// Whether the bus can publish and deliver right now.
    pub ready: bool,
    /// A short description for operators.
    pub detail: String,
}

/// Where a bus delivers what it reads: the node's room hub.
pub trait Sink: Send + Sync + 'static {
    /// A publication to a room. Called in offset order for each room.
    fn deliver(&self, msg: Arc<Message>);
    /// A cluster-wide command for local sockets.
    fn control(&self, cmd: Control);
    /// The bus lost continuity (for example the store restarted and lost its
    /// data): every subscription must re-read its room's history.
    fn resync_all(&self);
    /// A user's presence in a presence room changed on some node (this one
    /// included): tell the room's local subscribers. A sink without
    /// sockets ignores it.
    fn presence(&self, event: PresenceEvent) {
        let _ = event;
    }
    /// Sends `event` with an ack callback to the target's local sockets and
    /// returns the collector of their answers. A sink without sockets sends
    /// nothing.
    fn ask(
        &self,
        target: &ControlTarget,
        event: String,
        data: Value,
        deadline: Instant,
    ) -> Pending {
        let _ = target;
        Pending::new(None, event, data, deadline, 0).1
    }
}

/// The bus abstraction. See the module docs.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Starts delivering to `sink`. Called once, before any other method.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the store cannot be reached at all.
    async fn start(&self, sink: Arc<dyn Sink>) -> Result<(), BusError>;

    /// Stores publications and returns each one's position, in order.
    ///
    /// An `Err` entry means that publication was not stored and must not be
    /// acknowledged to its caller.
    async fn publish(&self, batch: Vec<Publication>) -> Vec<Result<Position, BusError>>;

    /// Reads what a subscriber to `room` should get.
    ///
    /// With `since` in the current epoch and every later message still held,
    /// returns exactly the messages after `since.offset` and `recovered: true`.
    /// Otherwise returns the latest `limit` messages and `recovered: false`;
    /// for a live-collection room also [`History::snapshot`], the whole set
    /// as one message at the latest offset, which a subscriber gets instead
    /// of the messages ([`StoredSet::snapshot`]).
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the store cannot be read.
    async fn history(
        &self,
        room: &RoomName,
        since: Option<&Position>,
        limit: usize,
    ) -> Result<History, BusError>;

    /// Reads a live-collection room's stored set with its position, in one
    /// step; `None` when the room holds no set. Publishers that decide
    /// what enters the set (the router's window) start from it.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the store cannot be read.
    async fn read_set(&self, room: &RoomName) -> Result<Option<StoredSet>, BusError>;

    /// The node now has a local subscriber to `room`: deliver its publications.
    ///
    /// When this returns, every publication stored from then on will reach
    /// the sink. The hub calls it before [`Bus::history`], so the history and
    /// the live feed overlap rather than leave a gap; subscribers drop the
    /// overlap by offset.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when delivery could not be set up.
    async fn watch(&self, room: &RoomName) -> Result<(), BusError>;

    /// The node has no local subscriber to `room` any more.
    fn unwatch(&self, room: &RoomName);

    /// Sends a cluster-wide command to every node, this one included.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the command could not be sent.
    async fn control(&self, cmd: Control) -> Result<(), BusError>;

    /// Announces a presence change to every node, this one included
    /// ([`Sink::presence`]), without waiting: a bus that cannot take it now
    /// drops it and returns `false`. The default (a bus without presence)
    /// drops every event.
    fn presence(&self, event: PresenceEvent) -> bool {
        let _ = event;
        false
    }

    /// The bus's health right now.
    fn health(&self) -> BusHealth;
}
