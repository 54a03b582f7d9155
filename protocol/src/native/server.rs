//! Frames the gateway sends to a client.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::codes::{CloseCode, ErrorCode};

/// One frame from the gateway. The `type` field selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The first frame on every connection.
    Welcome {
        /// This connection's session id, unique across the cluster.
        session: String,
        /// The gateway node's id.
        node: String,
        /// How often the gateway sends WebSocket pings, in milliseconds.
        heartbeat_ms: u64,
        /// The largest frame the gateway accepts, in bytes.
        max_frame_bytes: u64,
        /// The most rooms one connection may join.
        max_rooms: u64,
        /// The gateway closes the connection (4009) unless an `auth` frame
        /// comes within this many milliseconds; absent when anonymous
        /// connections may stay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth_within_ms: Option<u64>,
    },
    /// The client joined a room. The room's state follows as `message` frames.
    ///
    /// The gateway also sends `subscribed` unprompted, with `recovered: false`,
    /// when the room's epoch changes under a live subscription: the client
    /// must then drop what it holds for the room and take the frames that
    /// follow as a fresh snapshot.
    Subscribed {
        /// The room.
        room: String,
        /// The room's current epoch.
        epoch: String,
        /// The room's latest offset when the subscription started.
        offset: u64,
        /// True when every message after the client's `since` follows;
        /// false when the client must treat what follows as a fresh snapshot.
        recovered: bool,
        /// The request id, if the subscribe carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// The client left a room.
    Unsubscribed {
        /// The room.
        room: String,
        /// The request id, if the request carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// A publication to a room the client is in.
    Message {
        /// The room.
        room: String,
        /// The event name given by the publisher.
        event: String,
        /// The payload.
        data: Value,
        /// The publication's offset in the room: consecutive, starting at 1.
        offset: u64,
        /// When the publication entered the bus, in Unix milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<u64>,
    },
    /// The client's publish was accepted.
    Published {
        /// The room.
        room: String,
        /// The room's epoch.
        epoch: String,
        /// The publication's offset.
        offset: u64,
        /// The request id, if the publish carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// A connection token was accepted (`auth` or `refresh`).
    Authenticated {
        /// The token's user (`sub`), if it names one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// When the grant ends, in seconds since the Unix epoch: refresh
        /// before then or be closed with 4007.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<u64>,
        /// The request id, if the request carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// The answer to a `ping`.
    Pong {
        /// The request id, if the ping carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// A request failed; the connection stays open.
    Error {
        /// The numeric error code.
        code: ErrorCode,
        /// A human-readable explanation.
        reason: String,
        /// The request id, if the failing request carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// A user's presence changed in a room the client is in (rooms matching
    /// the gateway's `--presence-rooms` only): its first session on a
    /// gateway joined, or its last one there left.
    Presence {
        /// The room.
        room: String,
        /// The user (a token's `sub`, or the connect proxy's `user`).
        user: String,
        /// `join` or `leave`.
        action: crate::bus::PresenceAction,
    },
    /// The gateway is closing the connection. The WebSocket close frame
    /// that follows carries the same code.
    Disconnect {
        /// The numeric close code.
        code: CloseCode,
        /// A human-readable explanation.
        reason: String,
        /// Whether the client should reconnect.
        reconnect: bool,
    },
}

impl ServerFrame {
    /// The `disconnect` frame for `code`, with the code's own name as reason.
    pub fn disconnect(code: CloseCode) -> Self {
        Self::Disconnect {
            code,
            reason: code.name().to_owned(),
            reconnect: code.reconnect(),
        }
    }

    /// An `error` frame.
    pub fn error(code: ErrorCode, reason: impl Into<String>, id: Option<u64>) -> Self {
        Self::Error {
            code,
            reason: reason.into(),
            id,
        }
    }
}
