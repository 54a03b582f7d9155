//! What the gateway POSTs to the backend and what the backend may answer.
//! Binary values travel as `{"_binary": "<base64>"}` both ways.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// POSTed to `--connect-proxy` for each Socket.IO CONNECT the gateway's own
/// checks (namespace, token) accepted.
#[derive(Debug, Serialize)]
pub struct ConnectRequest<'a> {
    /// Always `"connect"`.
    pub kind: &'static str,
    /// The transport: `"socketio"`.
    pub transport: &'static str,
    /// The Engine.IO session id.
    pub sid: &'a str,
    /// The namespace, `/` for the main one.
    pub nsp: &'a str,
    /// The user the session's token names, if any.
    pub user: Option<&'a str>,
    /// The CONNECT's `auth` object as the client sent it (`null` if none).
    pub auth: Option<&'a Map<String, Value>>,
}

/// POSTed to `--socketio-event-proxy` for each client event the gateway
/// does not handle itself.
#[derive(Debug, Serialize)]
pub struct EventRequest<'a> {
    /// Always `"event"`.
    pub kind: &'static str,
    /// The Engine.IO session id.
    pub sid: &'a str,
    /// The namespace the event came in.
    pub nsp: &'a str,
    /// The session's user (from its token or the connect proxy), if any.
    pub user: Option<&'a str>,
    /// The event's name.
    pub event: &'a str,
    /// Its arguments after the name; attachments as `{"_binary": …}`.
    pub args: &'a [Value],
    /// Whether the client waits for an ack (the reply's `ack` answers it).
    pub ack: bool,
    /// The namespace's CONNECT `auth` object (`null` if none).
    pub auth: Option<&'a Map<String, Value>>,
}

/// One event the reply asks the gateway to send to the socket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmitBack {
    /// The event's name.
    pub event: String,
    /// Its arguments; `{"_binary": "<base64>"}` becomes an attachment.
    #[serde(default)]
    pub args: Vec<Value>,
}

/// The backend's answer to a [`ConnectRequest`]; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectReply {
    /// `false` refuses the CONNECT (default `true`).
    #[serde(default = "yes")]
    pub allow: bool,
    /// The refusal's `err.message` on the client (default "Forbidden").
    #[serde(default)]
    pub message: Option<String>,
    /// The refusal's `err.data` on the client.
    #[serde(default)]
    pub data: Option<Value>,
    /// The session's user, when its token named none.
    #[serde(default)]
    pub user: Option<String>,
    /// Events sent right after the CONNECT's answer, in order.
    #[serde(default)]
    pub emits: Vec<EmitBack>,
    /// Rooms the socket joins, each checked against the session's grant.
    #[serde(default)]
    pub join: Vec<String>,
}

/// The backend's answer to an [`EventRequest`]; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventReply {
    /// The ack's arguments, when the client asked for one (absent: an
    /// ack with no arguments).
    #[serde(default)]
    pub ack: Option<Vec<Value>>,
    /// Events sent to the socket, in order, before the ack.
    #[serde(default)]
    pub emits: Vec<EmitBack>,
    /// Rooms the socket joins, each checked against the session's grant.
    #[serde(default)]
    pub join: Vec<String>,
    /// Rooms the socket leaves.
    #[serde(default)]
    pub leave: Vec<String>,
}

fn yes() -> bool {
    true
}
