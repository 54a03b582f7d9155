//! The application backend's JSON (`docs/proxy.md`): what the gateway
//! POSTs to `--connect-proxy` and `--socketio-event-proxy`, what the
//! backend may answer, and [`decode_reply`], the one place a reply's bytes
//! become one of those answers. Binary values travel as
//! `{"_binary": "<base64>"}` both ways ([`crate::sio::json_binary`]).

use serde::de::DeserializeOwned;
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
    /// The handshake's headers named by `--proxy-headers` (lower-case
    /// names; cookies for session-cookie apps), each present one once.
    pub headers: Option<&'a Map<String, Value>>,
    /// The client's address as the gateway's socket saw it (`ip:port`;
    /// a proxy in front shows up here, its `X-Forwarded-For` in `headers`).
    pub remote_addr: Option<&'a str>,
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
    /// Room patterns (`dashboard:sales`, `dashboard:*`) the session may
    /// subscribe to. With `rooms`, `publish` or `expires`, the backend's
    /// grant replaces the one the gateway gave the session.
    #[serde(default)]
    pub rooms: Option<Vec<String>>,
    /// Room patterns the session may publish to (with the grant; default
    /// none).
    #[serde(default)]
    pub publish: Option<Vec<String>>,
    /// When the grant ends, in seconds since the Unix epoch: the session
    /// is then closed with 4007 `token_expired`, as at a token's `exp`.
    #[serde(default)]
    pub expires: Option<u64>,
}

impl ConnectReply {
    /// Whether the reply carries a grant (`rooms`, `publish` or `expires`).
    pub fn grants(&self) -> bool {
        self.rooms.is_some() || self.publish.is_some() || self.expires.is_some()
    }
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

/// A reply that is not JSON of the documented shape.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ReplyError(pub String);

/// Decodes a backend reply body. A body of only whitespace is the empty
/// reply `{}`; an unknown field is an error, so a misspelt one fails
/// loudly instead of being ignored.
///
/// # Errors
/// [`ReplyError`] naming what is wrong (serde_json's message: the field,
/// line and column).
pub fn decode_reply<T: DeserializeOwned>(body: &[u8]) -> Result<T, ReplyError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ReplyError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_body_is_the_empty_reply() {
        assert_eq!(
            decode_reply::<EventReply>(b" \n"),
            Ok(EventReply::default())
        );
        let connect: ConnectReply = decode_reply(b"").unwrap();
        assert!(connect.allow, "an empty connect reply accepts");
    }

    #[test]
    fn every_field_is_read() {
        let reply: EventReply = decode_reply(
            br#"{"ack":[1,{"_binary":"AQ=="}],"emits":[{"event":"e","args":[2]}],"join":["a"],"leave":["b"]}"#,
        )
        .unwrap();
        assert_eq!(
            reply.ack,
            Some(vec![json!(1), json!({ "_binary": "AQ==" })])
        );
        assert_eq!(
            reply.emits,
            vec![EmitBack {
                event: "e".into(),
                args: vec![json!(2)]
            }]
        );
        assert_eq!(
            (reply.join, reply.leave),
            (vec!["a".into()], vec!["b".into()])
        );
        let grant: ConnectReply = decode_reply(
            br#"{"user":"u","rooms":["dashboard:*"],"publish":[],"expires":1900000000}"#,
        )
        .unwrap();
        assert!(grant.grants());
        assert_eq!(grant.rooms, Some(vec!["dashboard:*".to_owned()]));
        assert!(!decode_reply::<ConnectReply>(b"{}").unwrap().grants());
        let refusal: ConnectReply =
            decode_reply(br#"{"allow":false,"message":"no","data":{"why":1}}"#).unwrap();
        assert!(!refusal.allow);
        assert_eq!(refusal.message.as_deref(), Some("no"));
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_named() {
        let e = decode_reply::<EventReply>(br#"{"acks":[1]}"#).unwrap_err();
        assert!(e.0.contains("unknown field `acks`"), "{e}");
        let e = decode_reply::<ConnectReply>(br#"{"allow":"yes"}"#).unwrap_err();
        assert!(e.0.contains("expected a boolean"), "{e}");
        assert!(decode_reply::<EventReply>(b"[1]").is_err());
        assert!(
            decode_reply::<EventReply>(b"{\"emits\":[{\"args\":[]}]}").is_err(),
            "an emit needs its event"
        );
    }
}
