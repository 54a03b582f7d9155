//! The sharded room map: where a room's local subscribers live.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use herald_protocol::RoomName;
use tokio::sync::OnceCell;

use super::outbox::Outbox;

/// A connection's id, unique within this process.
pub type ConnId = u64;

/// One room's local subscribers.
pub struct Room {
    /// Each subscriber's outbox, by connection.
    pub members: HashMap<ConnId, Arc<Outbox>>,
    /// Set once the bus delivers this room to the node; later joiners wait on it.
    pub watched: Arc<OnceCell<()>>,
}

/// Room name to local subscribers, sharded by `DashMap` so that joins,
/// leaves and fan-outs in different rooms rarely contend.
#[derive(Default)]
pub struct Rooms {
    /// The map.
    map: DashMap<RoomName, Room>,
}

impl Rooms {
    /// Adds `conn` to `room`; returns the room's watch cell to await.
    pub fn insert(
        &self,
        room: &RoomName,
        conn: ConnId,
        outbox: Arc<Outbox>,
    ) -> (Arc<OnceCell<()>>, bool) {
        let mut entry = self.map.entry(room.clone()).or_insert_with(|| Room {
            members: HashMap::new(),
            watched: Arc::new(OnceCell::new()),
        });
        let added = entry.members.insert(conn, outbox).is_none();
        (entry.watched.clone(), added)
    }

    /// Removes `conn` from `room`. Returns `(removed, room_gone_and_was_watched)`.
    pub fn remove(&self, room: &str, conn: ConnId) -> (bool, bool) {
        let removed = match self.map.get_mut(room) {
            Some(mut r) => r.members.remove(&conn).is_some(),
            None => return (false, false),
        };
        let gone = self.map.remove_if(room, |_, r| r.members.is_empty());
        (removed, gone.is_some_and(|(_, r)| r.watched.initialized()))
    }

    /// Calls `f` with the room's members, under the shard's read lock.
    /// Returns false when the room has no local members.
    pub fn with_members<R>(
        &self,
        room: &str,
        f: impl FnOnce(&HashMap<ConnId, Arc<Outbox>>) -> R,
    ) -> Option<R> {
        self.map.get(room).map(|r| f(&r.members))
    }

    /// Rooms with at least one member.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no room has members.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Local member count of a room.
    pub fn count(&self, room: &str) -> usize {
        self.map.get(room).map_or(0, |r| r.members.len())
    }
}
