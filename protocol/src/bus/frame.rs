//! The bus frame types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonText;

/// One frame on the bus. The `t` field selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BusFrame {
    /// A publication to a room.
    Publish(Publication),
    /// A cluster-wide command for the gateways.
    Control(Control),
    /// A gateway announcing it is alive.
    Heartbeat(NodeHeartbeat),
    /// A request for room member counts or presence across nodes.
    PresenceQuery(PresenceQuery),
    /// One node's answer to a [`PresenceQuery`].
    PresenceReply(PresenceReply),
    /// An emit that waits for the clients' acknowledgements, on every node.
    AskRequest(AskRequest),
    /// One node's acknowledgements for an [`AskRequest`].
    AskReply(AskReply),
    /// A user's presence in a room changed on one node (presence rooms only).
    Presence(PresenceEvent),
    /// A frame kind this reader does not know, written by a newer node
    /// during a rolling upgrade: readers skip it and count it.
    #[serde(other)]
    Unknown,
}

/// A publication, as a publisher hands it to the bus.
///
/// The bus assigns the room's epoch and offset when it stores the
/// publication; those travel beside the frame (see `docs/adapter-protocol.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    /// The room.
    pub room: String,
    /// The event name subscribers see.
    pub event: String,
    /// The payload. Version 2 frames carry it as the frame's tail, after
    /// the MessagePack map (see [`crate::bus::encode_bus`]); version 1
    /// frames held it in the map, and are still read.
    #[serde(default, skip_serializing)]
    pub data: JsonText,
    /// When the publisher handed the publication to the bus, Unix milliseconds.
    #[serde(default)]
    pub ts_ms: u64,
    /// When the change happened at its source (a MongoDB commit's
    /// `wallTime`), Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ts_ms: Option<u64>,
    /// The source stream this publication comes from (for the router: its
    /// scope id). Positions are compared only within one source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// The source's position of this change, ordered byte-wise within `src`
    /// (for the router: the change stream resume token's `_data` hex). The bus
    /// drops a publication whose position is not newer than the last one
    /// stored for the same room and source, so replays after a crash are harmless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_pos: Option<String>,
    /// The publisher's fencing token (the router's lease generation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
    /// For a live-collection room: how this publication changes the room's
    /// stored set. Not part of the frame (subscribers get the change in
    /// `data`); the bus applies it where it stores the publication.
    #[serde(skip)]
    pub set: Option<crate::collection::SetChange>,
}

/// Whom a [`Control`] command acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ControlTarget {
    /// Every socket in a room.
    Room(String),
    /// Every socket authenticated as a user.
    User(String),
    /// One session.
    Session(String),
}

/// A cluster-wide command that every gateway applies to its local sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Control {
    /// Disconnect the target's sockets with close code 4005 (kicked).
    Disconnect {
        /// Whose sockets.
        target: ControlTarget,
        /// The reason given to the clients.
        #[serde(default)]
        reason: String,
    },
    /// Make the target's sockets join a room.
    Join {
        /// Whose sockets.
        target: ControlTarget,
        /// The room to join.
        room: String,
    },
    /// Make the target's sockets leave a room.
    Leave {
        /// Whose sockets.
        target: ControlTarget,
        /// The room to leave.
        room: String,
    },
}

/// A gateway's liveness announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    /// The node id.
    pub node: String,
    /// When it was sent, Unix milliseconds.
    pub ts_ms: u64,
    /// Live client connections on the node.
    pub connections: u64,
    /// Rooms with at least one local subscriber.
    pub rooms: u64,
}

/// A request for member counts (and optionally session ids) of rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceQuery {
    /// Correlates replies with the query.
    pub request: String,
    /// The rooms asked about.
    pub rooms: Vec<String>,
    /// Whether to list session ids, not only counts.
    #[serde(default)]
    pub sessions: bool,
    /// The node that wants the replies.
    pub reply_to: String,
    /// When set, list up to this many users per room (each node answers
    /// at most [`MAX_PRESENCE_USERS`](super::presence::MAX_PRESENCE_USERS)).
    /// Older nodes ignore it and send no `users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
}

/// One node's answer to a [`PresenceQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceReply {
    /// The query's correlation id.
    pub request: String,
    /// The answering node.
    pub node: String,
    /// Member count per room asked about, in the query's order.
    pub counts: Vec<u64>,
    /// Session ids per room, when the query asked for them.
    #[serde(default)]
    pub sessions: Vec<Vec<String>>,
    /// The node's users per room, in the query's order, when the query
    /// asked for them (empty from older nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<RoomUsers>,
}

/// One node's users of one room, for a [`PresenceQuery`] with `users`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomUsers {
    /// The node's first users in byte order of their ids, at most the
    /// query's `users`, each with its session count on the node.
    #[serde(default)]
    pub users: Vec<UserSessions>,
    /// Distinct users in the room on the node (listed or not).
    #[serde(default)]
    pub total: u64,
    /// Sessions in the room on the node without a user.
    #[serde(default)]
    pub anonymous: u64,
}

/// A user and how many of its sessions are in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSessions {
    /// The user (a token's `sub`, or the connect proxy's `user`).
    pub user: String,
    /// Its sessions in the room.
    pub sessions: u64,
}

/// What happened to a user in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceAction {
    /// The user's first session on the node joined the room.
    Join,
    /// The user's last session on the node left the room.
    Leave,
}

impl PresenceAction {
    /// The action's wire name: `join` or `leave`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Leave => "leave",
        }
    }
}

/// A user's presence in a room changed on one node. Travels on the
/// control stream, never in a room's history, so recovery never replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEvent {
    /// The room.
    pub room: String,
    /// The user.
    pub user: String,
    /// Joined or left.
    pub action: PresenceAction,
    /// The node the user's session is on.
    pub node: String,
    /// When it happened, Unix milliseconds.
    #[serde(default)]
    pub ts_ms: u64,
}

/// An event sent to the target's sockets with an acknowledgement callback
/// (Socket.IO's `emit` with an ack); each node collects its sockets'
/// answers for `timeout_ms` and replies with an [`AskReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskRequest {
    /// Correlates replies with the request.
    pub request: String,
    /// The node that wants the replies.
    pub reply_to: String,
    /// Whose sockets.
    pub target: ControlTarget,
    /// The event name.
    pub event: String,
    /// The event's argument.
    #[serde(default)]
    pub data: Value,
    /// How long each node waits for its sockets' acks, milliseconds.
    pub timeout_ms: u64,
}

/// One socket's answer to an [`AskRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskAnswer {
    /// The socket's session id.
    pub sid: String,
    /// The namespace the event was sent in (none when nothing was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsp: Option<String>,
    /// The arguments the client acknowledged with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
    /// Why the socket gave no answer (no ack support, too many pending asks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One node's answers to an [`AskRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskReply {
    /// The request's correlation id.
    pub request: String,
    /// The answering node.
    pub node: String,
    /// Sockets the event was sent to.
    pub sent: u64,
    /// The answers that arrived in time (acks and refusals).
    pub answers: Vec<AskAnswer>,
}
