//! Presence with identity over the control stream: the users of a room
//! across the live nodes, and join/leave events of presence rooms
//! (`docs/adapter-protocol.md` §9).

use herald_protocol::bus::presence::{ClusterUsers, MAX_PRESENCE_USERS, merge_users};
use herald_protocol::bus::{BusFrame, PresenceEvent, PresenceQuery, encode_bus};

use super::control::{Waiter, append, live_nodes};
use super::state::Shared;
use crate::BusError;

/// The users of one room across the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomPresence {
    /// The merged users (the first `limit`, the total, the anonymous sessions).
    pub users: ClusterUsers,
    /// Sessions in the room, users' and anonymous ones.
    pub sessions: u64,
    /// Live nodes that answered in time.
    pub answered: usize,
    /// Live nodes asked.
    pub nodes: usize,
}

/// Asks every live node for the users of `room` and merges the answers,
/// waiting at most `presence_timeout`. `limit` is capped at
/// [`MAX_PRESENCE_USERS`]. A node too old to list users answers counts
/// only: its sessions count as anonymous.
///
/// # Errors
/// [`BusError::Unavailable`] when the query could not be sent.
pub async fn room_users(
    shared: &Shared,
    room: &str,
    limit: usize,
) -> Result<RoomPresence, BusError> {
    let limit = limit.min(MAX_PRESENCE_USERS);
    let expected = live_nodes(shared).await?;
    let mut waiter = Waiter::register(&shared.presence_waiters, &shared.config.node_id, 64);
    let query = BusFrame::PresenceQuery(PresenceQuery {
        request: waiter.request.clone(),
        rooms: vec![room.to_owned()],
        sessions: false,
        reply_to: shared.config.node_id.clone(),
        users: Some(limit as u64),
    });
    append(shared, encode_bus(&query)).await?;
    let deadline = tokio::time::Instant::now() + shared.config.presence_timeout;
    let replies = waiter.gather(&expected, deadline, |r| &r.node).await;
    let answered = replies.len();
    let mut sessions: u64 = 0;
    let mut lists = Vec::with_capacity(answered);
    for reply in replies {
        let count = reply.counts.first().copied().unwrap_or(0);
        sessions = sessions.saturating_add(count);
        match reply.users.into_iter().next() {
            Some(users) => lists.push(users),
            // An older node: it has no users to give, only a count.
            None => lists.push(herald_protocol::bus::RoomUsers {
                anonymous: count,
                ..Default::default()
            }),
        }
    }
    Ok(RoomPresence {
        users: merge_users(lists, limit),
        sessions,
        answered,
        nodes: expected.len(),
    })
}

/// Queues a presence event for the control stream. Never waits: with the
/// control queue full the event is dropped and `false` returned.
pub fn announce(shared: &Shared, event: PresenceEvent) -> bool {
    let frame = encode_bus(&BusFrame::Presence(event));
    if shared.control_out.try_send(frame).is_err() {
        tracing::debug!("bus: control queue full; dropping a presence event");
        return false;
    }
    true
}
