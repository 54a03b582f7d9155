//! The sharded room map: where a room's local subscribers live.
//!
//! Room names map (through a sharded `DashMap`) to a [`Room`], whose
//! members are split into parts by connection id. The fan-out writes part
//! 0 itself and hands the other parts of a large room to its lanes, one
//! lane per part, so one broadcast to many sockets uses every core while
//! each connection always stays in the same part (its messages stay in
//! order).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use herald_protocol::RoomName;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::transport::link::{Link, SlotId};

/// A connection's id, unique within this process.
pub type ConnId = u64;

/// One subscriber of a room.
#[derive(Clone)]
pub struct Member {
    /// The connection.
    pub conn: ConnId,
    /// Its write side.
    pub link: Arc<Link>,
    /// The room's slot in the link.
    pub slot: SlotId,
    /// The session's user when it joined (none: anonymous), for presence.
    pub user: Option<Arc<str>>,
}

/// One part of a room's members.
#[derive(Default)]
pub struct Part {
    /// The members, in no order.
    pub members: Vec<Member>,
    /// Where each connection is in `members`.
    index: HashMap<ConnId, usize>,
}

impl Part {
    fn insert(&mut self, m: Member) -> bool {
        if let Some(&i) = self.index.get(&m.conn) {
            self.members[i] = m;
            return false;
        }
        self.index.insert(m.conn, self.members.len());
        self.members.push(m);
        true
    }

    fn remove(&mut self, conn: ConnId) -> Option<Member> {
        let i = self.index.remove(&conn)?;
        let m = self.members.swap_remove(i);
        if let Some(moved) = self.members.get(i) {
            self.index.insert(moved.conn, i);
        }
        if self.members.capacity() > 64 && self.members.len() < self.members.capacity() / 4 {
            self.members.shrink_to(self.members.len() * 2);
            self.index.shrink_to(self.members.len() * 2);
        }
        Some(m)
    }
}

/// One room's local subscribers.
pub struct Room {
    /// The room's name.
    pub name: RoomName,
    /// Members by part (`conn % parts`).
    pub parts: Box<[Mutex<Part>]>,
    /// Members in all parts.
    members: AtomicUsize,
    /// Fan-out jobs of this room still queued on lanes: while any is, the
    /// next message must go through the lanes too, to stay behind it.
    pub outstanding: AtomicUsize,
    /// Set once the bus delivers this room to the node; later joiners wait on it.
    pub watched: Arc<OnceCell<()>>,
}

impl Room {
    fn new(name: RoomName, parts: usize) -> Self {
        Self {
            name,
            parts: (0..parts.max(1)).map(|_| Mutex::default()).collect(),
            members: AtomicUsize::new(0),
            outstanding: AtomicUsize::new(0),
            watched: Arc::new(OnceCell::new()),
        }
    }

    /// The part a connection belongs to.
    pub fn part_of(&self, conn: ConnId) -> usize {
        (conn % self.parts.len() as u64) as usize
    }

    /// Local members.
    pub fn len(&self) -> usize {
        self.members.load(Ordering::Acquire)
    }

    /// Whether the room has no local member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` on every member, part by part, under each part's lock.
    pub fn for_each(&self, mut f: impl FnMut(&Member)) {
        for p in self.parts.iter() {
            p.lock().members.iter().for_each(&mut f);
        }
    }
}

/// Room name to local subscribers. See the module docs.
pub struct Rooms {
    /// The map.
    map: DashMap<RoomName, Arc<Room>>,
    /// Parts per room.
    parts: usize,
}

impl Rooms {
    /// An empty map whose rooms split members into `parts`.
    pub fn new(parts: usize) -> Self {
        Self {
            map: DashMap::new(),
            parts: parts.max(1),
        }
    }

    /// Adds `member` to `room`. Returns the room (whose watch cell the
    /// caller awaits) and whether the member is new.
    pub fn insert(&self, room: &RoomName, member: Member) -> (Arc<Room>, bool) {
        let r = self
            .map
            .entry(room.clone())
            .or_insert_with(|| Arc::new(Room::new(room.clone(), self.parts)))
            .clone();
        let added = r.parts[r.part_of(member.conn)].lock().insert(member);
        if added {
            r.members.fetch_add(1, Ordering::AcqRel);
        }
        (r, added)
    }

    /// Removes `conn` from `room`. Returns `(removed member, room_gone_and_was_watched)`.
    pub fn remove(&self, room: &str, conn: ConnId) -> (Option<Member>, bool) {
        let Some(r) = self.map.get(room).map(|r| r.clone()) else {
            return (None, false);
        };
        let removed = r.parts[r.part_of(conn)].lock().remove(conn);
        if removed.is_some() {
            r.members.fetch_sub(1, Ordering::AcqRel);
        }
        let gone = self.map.remove_if(room, |_, r| r.is_empty());
        (removed, gone.is_some_and(|(_, r)| r.watched.initialized()))
    }

    /// The room, if it has local members.
    pub fn get(&self, room: &str) -> Option<Arc<Room>> {
        self.map.get(room).map(|r| r.clone())
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
        self.map.get(room).map_or(0, |r| r.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::GatewayMetrics;
    use crate::transport::frames::Framing;
    use crate::transport::link::LinkLimits;
    use herald_protocol::native::Format;

    fn member(conn: ConnId) -> Member {
        let link = Link::new(
            Arc::from("s"),
            Framing::WsNative(Format::Json),
            None,
            LinkLimits {
                max_messages: 10,
                max_bytes: 1000,
            },
            Arc::new(GatewayMetrics::new(false)),
        );
        Member {
            conn,
            link,
            slot: 0,
            user: None,
        }
    }

    #[test]
    fn members_split_by_connection_and_leave_in_any_order() {
        let rooms = Rooms::new(2);
        let room = RoomName::new("r").unwrap();
        for c in 0..10 {
            assert!(rooms.insert(&room, member(c)).1);
        }
        assert!(!rooms.insert(&room, member(3)).1, "a re-join is not new");
        let r = rooms.get("r").unwrap();
        assert_eq!(r.len(), 10);
        assert_eq!(r.parts[0].lock().members.len(), 5);
        for c in [4, 0, 9, 5, 1, 2, 3, 6, 7] {
            assert_eq!(rooms.remove("r", c).0.map(|m| m.conn), Some(c));
        }
        let mut left = Vec::new();
        r.for_each(|m| left.push(m.conn));
        assert_eq!(left, vec![8]);
        assert!(rooms.remove("r", 4).0.is_none());
        let (_, gone) = rooms.remove("r", 8);
        assert!(!gone, "never watched");
        assert!(rooms.is_empty());
    }
}
