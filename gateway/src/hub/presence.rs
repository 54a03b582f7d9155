//! Presence events of the rooms configured for them (`--presence-rooms`):
//! which users are in each such room on this node, and when a user's
//! first session joins or its last one leaves.
//!
//! Bounds (`docs/security.md`, "Presence"):
//! - only rooms matching `--presence-rooms` are tracked, and only their
//!   local members, so the map is as large as those rooms' memberships;
//! - a room with more than `--presence-max-members` local members neither
//!   announces nor forwards events: a room of 10,000 joining costs no
//!   10,000² writes;
//! - each room announces at most [`EVENTS_PER_SEC`] events a second on
//!   average ([`EVENTS_BURST`] at once) from this node; past it events are
//!   dropped (and counted), never queued.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use herald_protocol::bus::{PresenceAction, PresenceEvent};
use herald_protocol::{RoomName, RoomPatterns};

use crate::transport::rate::{Bucket, FrameRate};

/// Events one presence room may announce a second from one node, on average.
pub const EVENTS_PER_SEC: f32 = 20.0;
/// Events one presence room may announce at once from one node.
pub const EVENTS_BURST: f32 = 100.0;

const RATE: FrameRate = FrameRate {
    per_sec: EVENTS_PER_SEC,
    burst: EVENTS_BURST,
};

/// The presence settings (`--presence-rooms`, `--presence-max-members`).
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// Rooms whose subscribers get join and leave events (none by default).
    pub rooms: RoomPatterns,
    /// Rooms with more local members than this get no events.
    pub max_members: usize,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            rooms: RoomPatterns::none(),
            max_members: 1000,
        }
    }
}

/// One presence room's users on this node.
struct RoomUsers {
    /// User → its sessions in the room here.
    users: HashMap<Arc<str>, u32>,
    /// The room's event budget.
    bucket: Bucket,
}

/// Users per presence room on this node.
pub struct Presence {
    /// The settings.
    config: PresenceConfig,
    /// This node's id, carried in every event.
    node: String,
    /// Presence rooms with local members.
    rooms: DashMap<RoomName, RoomUsers>,
}

/// What a membership change means for presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing to announce (not a presence room, not a user's first or
    /// last session, or the room is too large).
    None,
    /// Announce this event.
    Announce(PresenceEvent),
    /// An event was due but the room's budget is spent.
    Dropped,
}

impl Presence {
    /// No users yet.
    pub fn new(config: PresenceConfig, node: String) -> Self {
        Self {
            config,
            node,
            rooms: DashMap::new(),
        }
    }

    /// Whether `room` gets presence events.
    pub fn tracks(&self, room: &RoomName) -> bool {
        !self.config.rooms.is_empty() && self.config.rooms.allows(room)
    }

    /// Whether a room of `members` local members gets events.
    pub fn small_enough(&self, members: usize) -> bool {
        members <= self.config.max_members
    }

    /// A session of `user` joined `room`, which now has `members` local members.
    pub fn joined(&self, room: &RoomName, user: &Arc<str>, members: usize) -> Change {
        if !self.tracks(room) {
            return Change::None;
        }
        let mut r = self.rooms.entry(room.clone()).or_insert_with(|| RoomUsers {
            users: HashMap::new(),
            bucket: Bucket::new(RATE),
        });
        let n = r.users.entry(user.clone()).or_default();
        *n += 1;
        if *n > 1 {
            return Change::None;
        }
        self.event(&mut r, room, user, PresenceAction::Join, members)
    }

    /// A session of `user` left `room`, which now has `members` local members.
    pub fn left(&self, room: &RoomName, user: &Arc<str>, members: usize) -> Change {
        if !self.tracks(room) {
            return Change::None;
        }
        let Some(mut r) = self.rooms.get_mut(room) else {
            return Change::None;
        };
        let Some(n) = r.users.get_mut(user) else {
            return Change::None;
        };
        *n -= 1;
        if *n > 0 {
            return Change::None;
        }
        r.users.remove(user);
        let change = self.event(&mut r, room, user, PresenceAction::Leave, members);
        let empty = r.users.is_empty();
        drop(r);
        if empty {
            self.rooms.remove_if(room, |_, r| r.users.is_empty());
        }
        change
    }

    fn event(
        &self,
        r: &mut RoomUsers,
        room: &RoomName,
        user: &Arc<str>,
        action: PresenceAction,
        members: usize,
    ) -> Change {
        if !self.small_enough(members) {
            return Change::None;
        }
        if !r.bucket.take(RATE) {
            return Change::Dropped;
        }
        Change::Announce(PresenceEvent {
            room: room.to_string(),
            user: user.to_string(),
            action,
            node: self.node.clone(),
            ts_ms: herald_service::clock::unix_ms(),
        })
    }

    /// Presence rooms with local members (for tests and gauges).
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(max_members: usize) -> Presence {
        Presence::new(
            PresenceConfig {
                rooms: RoomPatterns::parse(["chat:*"]).unwrap(),
                max_members,
            },
            "n1".into(),
        )
    }

    fn action(c: &Change) -> Option<PresenceAction> {
        match c {
            Change::Announce(e) => Some(e.action),
            _ => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_joins_with_its_first_session_and_leaves_with_its_last() {
        let p = presence(100);
        let room = RoomName::new("chat:1").unwrap();
        let alice: Arc<str> = Arc::from("alice");
        assert_eq!(
            action(&p.joined(&room, &alice, 1)),
            Some(PresenceAction::Join)
        );
        assert_eq!(p.joined(&room, &alice, 2), Change::None, "a second tab");
        assert_eq!(p.left(&room, &alice, 1), Change::None, "one tab left");
        let Change::Announce(e) = p.left(&room, &alice, 0) else {
            panic!("the last tab leaves");
        };
        assert_eq!(
            (e.room.as_str(), e.user.as_str(), e.node.as_str()),
            ("chat:1", "alice", "n1")
        );
        assert_eq!(e.action, PresenceAction::Leave);
        assert_eq!(p.rooms(), 0, "an empty room is forgotten");
        assert_eq!(p.left(&room, &alice, 0), Change::None, "a stray leave");
    }

    #[tokio::test(start_paused = true)]
    async fn other_rooms_and_large_rooms_get_no_events() {
        let p = presence(2);
        let bob: Arc<str> = Arc::from("bob");
        let lobby = RoomName::new("lobby").unwrap();
        assert_eq!(p.joined(&lobby, &bob, 1), Change::None);
        assert_eq!(
            p.rooms(),
            0,
            "rooms outside --presence-rooms are not tracked"
        );
        let room = RoomName::new("chat:big").unwrap();
        assert_eq!(
            p.joined(&room, &bob, 3),
            Change::None,
            "past the member cap"
        );
        // Still counted, so the leave of the last session is known.
        assert_eq!(p.rooms(), 1);
        assert_eq!(action(&p.left(&room, &bob, 2)), Some(PresenceAction::Leave));
        let none = Presence::new(PresenceConfig::default(), "n".into());
        assert!(!none.tracks(&room), "empty by default");
    }

    #[tokio::test(start_paused = true)]
    async fn a_room_announces_at_most_its_budget() {
        let p = presence(usize::MAX);
        let room = RoomName::new("chat:storm").unwrap();
        let users: Vec<Arc<str>> = (0..300).map(|i| Arc::from(format!("u{i}"))).collect();
        let announced = users
            .iter()
            .filter(|u| matches!(p.joined(&room, u, 1), Change::Announce(_)))
            .count();
        assert_eq!(announced, EVENTS_BURST as usize);
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let u: Arc<str> = Arc::from("late");
        assert!(
            matches!(p.joined(&room, &u, 1), Change::Announce(_)),
            "refilled"
        );
    }
}
