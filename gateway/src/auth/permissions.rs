//! What one connection may do: the rooms it may subscribe to and publish to.

use herald_protocol::{RoomName, RoomPatterns};

use super::token::Claims;

/// A connection's grant, from its token or from the node's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// The authenticated user, `None` for an anonymous connection.
    pub user: Option<String>,
    /// Rooms the connection may subscribe to.
    pub rooms: RoomPatterns,
    /// Rooms the connection may publish to.
    pub publish: RoomPatterns,
    /// When the grant ends (seconds since the epoch), if it does.
    pub expires: Option<u64>,
}

impl Permissions {
    /// A standalone node's grant: anonymous, every room, no expiry.
    pub fn open() -> Self {
        Self {
            user: None,
            rooms: RoomPatterns::everything(),
            publish: RoomPatterns::everything(),
            expires: None,
        }
    }

    /// An anonymous connection on a cluster: it may subscribe to the
    /// `--public-rooms` patterns only (none by default) and publish nowhere.
    pub fn public(patterns: RoomPatterns) -> Self {
        Self {
            user: None,
            rooms: patterns,
            publish: RoomPatterns::none(),
            expires: None,
        }
    }

    /// The grant of a verified connection token.
    pub fn from_claims(claims: Claims) -> Self {
        Self {
            user: claims.sub,
            rooms: claims.rooms,
            publish: claims.publish,
            expires: claims.exp,
        }
    }

    /// Whether the connection may subscribe to `room`.
    pub fn may_subscribe(&self, room: &RoomName) -> bool {
        self.rooms.allows(room)
    }

    /// Whether the connection may publish to `room`.
    pub fn may_publish(&self, room: &RoomName) -> bool {
        self.publish.allows(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> RoomName {
        RoomName::new(s).expect("valid room")
    }

    #[test]
    fn open_allows_everything() {
        let p = Permissions::open();
        for r in ["lobby", "news:x", "a*b"] {
            assert!(p.may_subscribe(&room(r)));
            assert!(p.may_publish(&room(r)));
        }
        assert_eq!(p.user, None);
        assert_eq!(p.expires, None);
    }

    #[test]
    fn public_default_allows_nothing() {
        let p = Permissions::public(RoomPatterns::default());
        assert!(!p.may_subscribe(&room("lobby")));
        assert!(!p.may_publish(&room("lobby")));
    }

    #[test]
    fn public_patterns_allow_subscribing_only() {
        let p = Permissions::public(RoomPatterns::parse(["lobby", "news:*"]).expect("valid"));
        assert!(p.may_subscribe(&room("lobby")));
        assert!(p.may_subscribe(&room("news:sport")));
        assert!(!p.may_subscribe(&room("chat")));
        assert!(!p.may_publish(&room("lobby")), "anonymous never publishes");
    }

    #[test]
    fn claims_become_permissions() {
        let p = Permissions::from_claims(Claims {
            sub: Some("ada".into()),
            rooms: RoomPatterns::parse(["user:ada:*"]).expect("valid"),
            publish: RoomPatterns::parse(["chat"]).expect("valid"),
            exp: Some(99),
        });
        assert_eq!(p.user.as_deref(), Some("ada"));
        assert_eq!(p.expires, Some(99));
        assert!(p.may_subscribe(&room("user:ada:inbox")));
        assert!(!p.may_subscribe(&room("user:bob:inbox")));
        assert!(p.may_publish(&room("chat")));
        assert!(!p.may_publish(&room("user:ada:inbox")));
    }
}
