//! Frames a client sends to the gateway.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Position, RoomName};

/// One request from a client. The `op` field selects the variant.
///
/// Every variant takes an optional `id`; the gateway echoes it in the reply
/// (`subscribed`, `unsubscribed`, `published`, `pong` or `error`), so a client
/// can match replies to requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Join a room: the gateway answers `subscribed`, then the room's
    /// current state (or the missed messages after `since`), then every
    /// new message in order.
    Subscribe {
        /// The room to join.
        room: RoomName,
        /// The last position the client saw in this room, to recover from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Position>,
        /// Leave every other room first (a dashboard switching sections).
        #[serde(default, skip_serializing_if = "is_false")]
        leave_others: bool,
        /// A subscription token for this room, for rooms the connection's
        /// own grant does not cover.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Request id echoed in the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// Authenticate with a connection token (the first frame, when the
    /// token is not in the URL). Answered with `authenticated` or `error`
    /// 108, then a close.
    Auth {
        /// The connection token (a JWT).
        token: String,
        /// Request id echoed in the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// Replace the connection's token before it expires. The new token
    /// must name the same user. Answered with `authenticated`, or `error`
    /// 108 with the connection left as it was.
    Refresh {
        /// The new connection token.
        token: String,
        /// Request id echoed in the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// Leave a room.
    Unsubscribe {
        /// The room to leave.
        room: RoomName,
        /// Request id echoed in the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// Leave every room.
    LeaveAll {
        /// Request id echoed in the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// Publish to a room, where the gateway allows client publishes.
    Publish {
        /// The room to publish to.
        room: RoomName,
        /// The event name subscribers see.
        event: String,
        /// The payload, any JSON value.
        #[serde(default)]
        data: Value,
        /// Request id echoed in the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// An application-level ping, for clients that cannot send WebSocket pings.
    Ping {
        /// Request id echoed in the `pong`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
}

/// Every `op` the protocol knows, in the order of [`ClientFrame`]'s variants.
pub const OPS: [&str; 7] = [
    "subscribe",
    "auth",
    "refresh",
    "unsubscribe",
    "leave_all",
    "publish",
    "ping",
];

impl ClientFrame {
    /// The request id, if the client sent one.
    pub fn id(&self) -> Option<u64> {
        match self {
            Self::Subscribe { id, .. }
            | Self::Auth { id, .. }
            | Self::Refresh { id, .. }
            | Self::Unsubscribe { id, .. }
            | Self::LeaveAll { id }
            | Self::Publish { id, .. }
            | Self::Ping { id } => *id,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
