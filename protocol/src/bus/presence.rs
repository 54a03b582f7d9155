//! Users in a room across nodes: what one node lists ([`local_users`]) and
//! how the asker merges the nodes' lists ([`merge_users`]), both bounded.
//!
//! Every node lists its first `limit` users in byte order of their ids.
//! The union of those lists therefore holds the cluster's first `limit`
//! users with their exact session counts: a user among the cluster's first
//! `limit` is among the first `limit` of every node it is on. The distinct
//! total is exact when no node left a user out; otherwise it is an upper
//! bound (a user on two nodes that neither listed counts twice).

use std::collections::BTreeMap;

use super::frame::{RoomUsers, UserSessions};

/// The most users a node lists per room, whatever a query asks.
pub const MAX_PRESENCE_USERS: usize = 1000;

/// The most bytes of user ids a node lists per room; a node past it lists
/// fewer users (its total stays exact).
pub const MAX_PRESENCE_USER_BYTES: usize = 256 * 1024;

/// The most rooms a node answers in one presence query.
pub const MAX_PRESENCE_ROOMS: usize = 1000;

/// One node's answer for one room: `users` maps each user to its sessions
/// there; `anonymous` counts sessions without a user. Lists at most
/// `limit` users (and at most [`MAX_PRESENCE_USERS`] and
/// [`MAX_PRESENCE_USER_BYTES`]), the first in byte order.
pub fn local_users<S: AsRef<str>>(
    users: &BTreeMap<S, u64>,
    anonymous: u64,
    limit: usize,
) -> RoomUsers {
    let limit = limit.min(MAX_PRESENCE_USERS);
    let mut bytes = 0usize;
    let listed = users
        .iter()
        .take(limit)
        .take_while(|(u, _)| {
            bytes += u.as_ref().len();
            bytes <= MAX_PRESENCE_USER_BYTES
        })
        .map(|(u, n)| UserSessions {
            user: u.as_ref().to_owned(),
            sessions: *n,
        })
        .collect();
    RoomUsers {
        users: listed,
        total: users.len() as u64,
        anonymous,
    }
}

/// The cluster's users of one room, merged from the nodes' answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterUsers {
    /// The first `limit` users in byte order, each with its sessions across
    /// the nodes that answered.
    pub users: Vec<UserSessions>,
    /// Distinct users across the nodes that answered (see `exact`).
    pub total: u64,
    /// Whether `total` is exact; otherwise it is an upper bound.
    pub exact: bool,
    /// Sessions without a user.
    pub anonymous: u64,
}

/// Merges the nodes' answers for one room and keeps the first `limit`
/// users. Each answer is read up to [`MAX_PRESENCE_USERS`] users, so a
/// peer cannot make the merge unbounded.
pub fn merge_users(answers: impl IntoIterator<Item = RoomUsers>, limit: usize) -> ClusterUsers {
    let mut all: BTreeMap<String, u64> = BTreeMap::new();
    let mut unlisted: u64 = 0;
    let mut anonymous: u64 = 0;
    for a in answers {
        let mut listed: u64 = 0;
        for u in a.users.into_iter().take(MAX_PRESENCE_USERS) {
            listed += 1;
            let n = all.entry(u.user).or_default();
            *n = n.saturating_add(u.sessions);
        }
        unlisted = unlisted.saturating_add(a.total.saturating_sub(listed));
        anonymous = anonymous.saturating_add(a.anonymous);
    }
    let total = (all.len() as u64).saturating_add(unlisted);
    ClusterUsers {
        users: all
            .into_iter()
            .take(limit)
            .map(|(user, sessions)| UserSessions { user, sessions })
            .collect(),
        total,
        exact: unlisted == 0,
        anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(users: &[(&str, u64)], anonymous: u64, limit: usize) -> RoomUsers {
        let map: BTreeMap<&str, u64> = users.iter().copied().collect();
        local_users(&map, anonymous, limit)
    }

    fn names(c: &ClusterUsers) -> Vec<(&str, u64)> {
        c.users
            .iter()
            .map(|u| (u.user.as_str(), u.sessions))
            .collect()
    }

    #[test]
    fn a_node_lists_its_first_users_and_counts_the_rest() {
        let r = node(&[("c", 1), ("a", 3), ("b", 1)], 2, 2);
        let listed: Vec<_> = r.users.iter().map(|u| u.user.as_str()).collect();
        assert_eq!(listed, ["a", "b"]);
        assert_eq!((r.total, r.anonymous), (3, 2));
        assert_eq!(r.users[0].sessions, 3);
    }

    #[test]
    fn a_node_never_lists_more_than_the_bounds() {
        let ids: Vec<String> = (0..5000).map(|i| format!("user-{i:05}")).collect();
        let map: BTreeMap<&str, u64> = ids.iter().map(|s| (s.as_str(), 1)).collect();
        let r = local_users(&map, 0, usize::MAX);
        assert_eq!(r.users.len(), MAX_PRESENCE_USERS);
        assert_eq!(r.total, 5000);
        let long: Vec<String> = (0..100)
            .map(|i| format!("{i:03}{}", "x".repeat(8000)))
            .collect();
        let map: BTreeMap<&str, u64> = long.iter().map(|s| (s.as_str(), 1)).collect();
        let r = local_users(&map, 0, 100);
        let bytes: usize = r.users.iter().map(|u| u.user.len()).sum();
        assert!(bytes <= MAX_PRESENCE_USER_BYTES && r.users.len() < 100);
        assert_eq!(r.total, 100);
    }

    #[test]
    fn users_on_two_nodes_are_listed_once_with_their_sessions_summed() {
        let merged = merge_users(
            [
                node(&[("alice", 2), ("bob", 1)], 1, 10),
                node(&[("alice", 1), ("carol", 1)], 0, 10),
            ],
            10,
        );
        assert_eq!(names(&merged), [("alice", 3), ("bob", 1), ("carol", 1)]);
        assert_eq!((merged.total, merged.exact, merged.anonymous), (3, true, 1));
    }

    #[test]
    fn the_first_users_of_the_cluster_survive_every_node_cutting_its_list() {
        // Node 1 holds a..=j, node 2 holds every other letter k..=t and "b".
        let n1: Vec<(String, u64)> = ('a'..='j').map(|c| (c.to_string(), 1)).collect();
        let mut n2: Vec<(String, u64)> =
            ('k'..='t').step_by(2).map(|c| (c.to_string(), 1)).collect();
        n2.push(("b".into(), 4));
        let as_refs =
            |v: &[(String, u64)]| -> BTreeMap<String, u64> { v.iter().cloned().collect() };
        let merged = merge_users(
            [
                local_users(&as_refs(&n1), 0, 3),
                local_users(&as_refs(&n2), 0, 3),
            ],
            3,
        );
        assert_eq!(names(&merged), [("a", 1), ("b", 5), ("c", 1)]);
        // 10 + 6 users, "b" on both: 15 distinct; the bound counts "b" once
        // (both listed it) but cannot see through the unlisted ones.
        assert!(!merged.exact);
        assert!(merged.total >= 15, "{}", merged.total);
        assert!(merged.total <= 16, "{}", merged.total);
    }

    #[test]
    fn a_peer_sending_too_many_users_is_read_only_up_to_the_bound() {
        let flood = RoomUsers {
            users: (0..MAX_PRESENCE_USERS + 500)
                .map(|i| UserSessions {
                    user: format!("u{i:06}"),
                    sessions: 1,
                })
                .collect(),
            total: 3,
            anonymous: 0,
        };
        let merged = merge_users([flood], usize::MAX);
        assert_eq!(merged.users.len(), MAX_PRESENCE_USERS);
    }
}
