//! Socket.IO v5 packets, carried in Engine.IO message packets.
//!
//! Text form: `<type>[<#attachments>-][<nsp>,][<ackId>][JSON]`. The
//! namespace is omitted when it is `/`. A packet with binary attachments is
//! a BINARY_EVENT or BINARY_ACK whose JSON holds placeholders
//! `{"_placeholder":true,"num":N}`; the attachments follow as N binary
//! Engine.IO messages (see [`super::BinaryAssembler`]).

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::{Map, Value};

/// The most binary attachments one packet may announce (the reference
/// implementation's default).
pub const MAX_ATTACHMENTS: usize = 10;

/// The longest namespace, in bytes.
pub const MAX_NSP_BYTES: usize = 256;

/// The main namespace, omitted on the wire.
pub const DEFAULT_NSP: &str = "/";

/// Event names Socket.IO reserves for itself; an EVENT carrying one is
/// invalid.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// A Socket.IO packet type, with its wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SioKind {
    /// `0`: join a namespace (client), or accept the join (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event: `["name", args...]`.
    Event = 2,
    /// `3`: the answer to an event that asked for one: `[args...]`.
    Ack = 3,
    /// `4`: the server refuses a namespace join.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck = 6,
}

impl SioKind {
    /// The kind whose wire digit is `c`.
    pub fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '0' => Self::Connect,
            '1' => Self::Disconnect,
            '2' => Self::Event,
            '3' => Self::Ack,
            '4' => Self::ConnectError,
            '5' => Self::BinaryEvent,
            '6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit.
    pub fn as_char(self) -> char {
        char::from(b'0' + self as u8)
    }

    /// The kind with the binary flag removed: BINARY_EVENT is EVENT and
    /// BINARY_ACK is ACK.
    pub fn base(self) -> Self {
        match self {
            Self::BinaryEvent => Self::Event,
            Self::BinaryAck => Self::Ack,
            other => other,
        }
    }

    /// Whether this is BINARY_EVENT or BINARY_ACK.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        }
    }
}

impl std::fmt::Display for SioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One Socket.IO packet.
///
/// Decoding yields `kind` without the binary flag ([`SioKind::Event`] or
/// [`SioKind::Ack`]) and the attachments in `attachments`; encoding sets the
/// binary flag from whether `attachments` is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    /// The packet type.
    pub kind: SioKind,
    /// The namespace, `/` for the main one.
    pub nsp: String,
    /// The acknowledgement id: on an EVENT, asks the receiver to answer; on
    /// an ACK, says which event it answers.
    pub id: Option<u64>,
    /// The JSON payload; binary parts are placeholders.
    pub data: Option<Value>,
    /// Binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
}

/// The result of decoding a text packet.
#[derive(Debug, Clone, PartialEq)]
pub enum SioDecoded {
    /// A complete packet.
    Packet(SioPacket),
    /// A binary packet's header: `count` binary messages must follow.
    NeedsAttachments {
        /// The packet so far, with no attachments yet.
        packet: SioPacket,
        /// How many binary messages complete it (1 to the limit).
        count: usize,
    },
}

/// What a client asks to resume with, from its CONNECT payload
/// (connection state recovery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRequest {
    /// The private session id from the previous CONNECT reply.
    pub pid: String,
    /// The offset of the last event the client received.
    pub offset: String,
}

/// Why text is not a valid Socket.IO packet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SioError {
    /// No bytes at all.
    #[error("empty Socket.IO packet")]
    Empty,
    /// The first character is not a packet type digit `0`..=`6`.
    #[error("unknown Socket.IO packet type {0:?}; expected a digit 0 to 6")]
    UnknownType(char),
    /// A binary packet's `<count>-` header is missing, zero or not a number.
    #[error("bad attachment count: {0}")]
    BadAttachments(String),
    /// A binary packet announces more attachments than allowed.
    #[error("{count} attachments announced; the limit is {max}")]
    TooManyAttachments {
        /// The announced count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The namespace is too long, lacks its leading `/`, or holds a comma or
    /// a control character.
    #[error("bad namespace: {0}")]
    BadNamespace(String),
    /// The ack id does not fit in 64 bits, is missing on an ACK, or is set on
    /// a packet type that has none.
    #[error("bad ack id: {0}")]
    BadAckId(String),
    /// The payload is not JSON.
    #[error("payload is not valid JSON: {0}")]
    BadJson(String),
    /// The payload's shape does not match the packet type.
    #[error("invalid {kind} payload: {reason}")]
    InvalidPayload {
        /// The packet type.
        kind: SioKind,
        /// What the type requires.
        reason: &'static str,
    },
    /// A placeholder is malformed or points past the announced attachments.
    #[error("bad binary placeholder: {0}")]
    BadPlaceholder(String),
    /// A binary message arrived when no binary packet was waiting for one.
    #[error("binary message received while no binary packet awaits attachments")]
    UnexpectedBinary,
    /// A text packet arrived before the pending binary packet was complete.
    #[error("text packet received while a binary packet still awaits {missing} attachment(s)")]
    UnexpectedText {
        /// Attachments still missing.
        missing: usize,
    },
}

impl SioPacket {
    /// A packet of `kind` in `nsp` with the given payload, no id, no
    /// attachments.
    pub fn new(kind: SioKind, nsp: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            kind,
            nsp: nsp.into(),
            id: None,
            data,
            attachments: Vec::new(),
        }
    }

    /// An EVENT `[name, args...]`.
    pub fn event(
        nsp: impl Into<String>,
        name: &str,
        args: impl IntoIterator<Item = Value>,
    ) -> Self {
        let mut data = vec![Value::String(name.to_owned())];
        data.extend(args);
        Self::new(SioKind::Event, nsp, Some(Value::Array(data)))
    }

    /// An ACK answering the event with ack id `id`.
    pub fn ack(nsp: impl Into<String>, id: u64, args: Vec<Value>) -> Self {
        Self {
            id: Some(id),
            ..Self::new(SioKind::Ack, nsp, Some(Value::Array(args)))
        }
    }

    /// A client's CONNECT, with an optional auth object.
    pub fn connect(nsp: impl Into<String>, auth: Option<Map<String, Value>>) -> Self {
        Self::new(SioKind::Connect, nsp, auth.map(Value::Object))
    }

    /// The server's CONNECT reply: `{"sid":..}`, plus `"pid"` when
    /// connection state recovery is on.
    pub fn connect_ok(nsp: impl Into<String>, sid: &str, pid: Option<&str>) -> Self {
        let mut map = Map::new();
        map.insert("sid".into(), Value::String(sid.to_owned()));
        if let Some(pid) = pid {
            map.insert("pid".into(), Value::String(pid.to_owned()));
        }
        Self::new(SioKind::Connect, nsp, Some(Value::Object(map)))
    }

    /// The server refusing a namespace join: `{"message":..}`.
    pub fn connect_error(nsp: impl Into<String>, message: &str) -> Self {
        let mut map = Map::new();
        map.insert("message".into(), Value::String(message.to_owned()));
        Self::new(SioKind::ConnectError, nsp, Some(Value::Object(map)))
    }

    /// A CONNECT_ERROR for `nsp` with `message` and the application
    /// `data` the client's `connect_error` handler sees as `err.data`.
    pub fn connect_error_with(nsp: impl Into<String>, message: &str, data: Value) -> Self {
        let mut map = Map::new();
        map.insert("message".into(), Value::String(message.to_owned()));
        map.insert("data".into(), data);
        Self::new(SioKind::ConnectError, nsp, Some(Value::Object(map)))
    }

    /// A DISCONNECT from `nsp`.
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Self::new(SioKind::Disconnect, nsp, None)
    }

    /// An EVENT's name, or `None` for other kinds.
    pub fn event_name(&self) -> Option<&str> {
        match (self.kind.base(), &self.data) {
            (SioKind::Event, Some(Value::Array(items))) => items.first().and_then(Value::as_str),
            _ => None,
        }
    }

    /// The arguments: an EVENT's items after its name, an ACK's items, or
    /// nothing for other kinds.
    pub fn args(&self) -> &[Value] {
        match (self.kind.base(), &self.data) {
            (SioKind::Event, Some(Value::Array(items))) => items.get(1..).unwrap_or_default(),
            (SioKind::Ack, Some(Value::Array(items))) => items,
            _ => &[],
        }
    }

    /// The `{pid, offset}` a client's CONNECT asks to resume from, if it
    /// carries both as strings.
    pub fn recovery(&self) -> Option<RecoveryRequest> {
        let Some(Value::Object(map)) = self.data.as_ref().filter(|_| self.kind == SioKind::Connect)
        else {
            return None;
        };
        let pid = map.get("pid")?.as_str()?.to_owned();
        let offset = map.get("offset")?.as_str()?.to_owned();
        Some(RecoveryRequest { pid, offset })
    }

    /// Checks the packet against the rules [`decode_text`] enforces, so it
    /// encodes into something a peer accepts.
    ///
    /// # Errors
    /// The [`SioError`] the decoder would report.
    pub fn validate(&self) -> Result<(), SioError> {
        if self.nsp != DEFAULT_NSP && !self.nsp.is_empty() {
            if !self.nsp.starts_with('/') {
                return Err(SioError::BadNamespace(format!(
                    "{:?} does not start with '/'",
                    truncate(&self.nsp)
                )));
            }
            check_nsp(&self.nsp)?;
        }
        let count = match self.kind.base() {
            SioKind::Event | SioKind::Ack => self.attachments.len(),
            _ if self.attachments.is_empty() => 0,
            kind => {
                return Err(SioError::BadAttachments(format!(
                    "{kind} packets carry no attachments"
                )));
            }
        };
        if count > MAX_ATTACHMENTS {
            return Err(SioError::TooManyAttachments {
                count,
                max: MAX_ATTACHMENTS,
            });
        }
        check_payload(self.kind.base(), self.id, self.data.as_ref(), count)
    }
}

/// A placeholder for attachment `num`, to put inside a binary packet's data.
pub fn placeholder(num: usize) -> Value {
    let mut map = Map::new();
    map.insert("_placeholder".into(), Value::Bool(true));
    map.insert("num".into(), Value::from(num));
    Value::Object(map)
}

/// Encodes a packet: its text form (without the Engine.IO `4` prefix) and
/// its attachments, each to be sent as a binary message after the text.
///
/// The binary flag and the `N-` count come from `attachments`; attachments
/// on kinds other than EVENT and ACK are dropped. The packet is not
/// validated: see [`SioPacket::validate`].
pub fn encode(packet: &SioPacket) -> (String, Vec<Bytes>) {
    let mut out = String::new();
    let attachments = write_packet(packet, &mut out);
    (out, attachments)
}

/// Like [`encode`], but the text is a complete Engine.IO message (`4`
/// prefix), ready for a WebSocket text frame or a polling payload.
pub fn encode_frame(packet: &SioPacket) -> (String, Vec<Bytes>) {
    let mut out = String::from("4");
    let attachments = write_packet(packet, &mut out);
    (out, attachments)
}

fn write_packet(packet: &SioPacket, out: &mut String) -> Vec<Bytes> {
    let base = packet.kind.base();
    let binary = matches!(base, SioKind::Event | SioKind::Ack) && !packet.attachments.is_empty();
    let kind = match (base, binary) {
        (SioKind::Event, true) => SioKind::BinaryEvent,
        (SioKind::Ack, true) => SioKind::BinaryAck,
        (kind, _) => kind,
    };
    out.push(kind.as_char());
    if binary {
        // Writing into a String cannot fail.
        let _ = write!(out, "{}-", packet.attachments.len());
    }
    write_nsp(out, &packet.nsp);
    if let Some(id) = packet.id {
        let _ = write!(out, "{id}");
    }
    if let Some(data) = &packet.data {
        let _ = write!(out, "{data}");
    }
    if binary {
        packet.attachments.clone()
    } else {
        Vec::new()
    }
}

/// Appends `nsp,` unless the namespace is the main one.
pub(crate) fn write_nsp(out: &mut String, nsp: &str) {
    if nsp != DEFAULT_NSP && !nsp.is_empty() {
        out.push_str(nsp);
        out.push(',');
    }
}

/// Decodes a Socket.IO text packet (the data of an Engine.IO text message),
/// allowing up to [`MAX_ATTACHMENTS`] attachments.
///
/// # Errors
/// [`SioError`] names the first rule the text breaks.
pub fn decode_text(text: &str) -> Result<SioDecoded, SioError> {
    decode_text_with(text, MAX_ATTACHMENTS)
}

/// [`decode_text`] with a custom attachment limit.
///
/// # Errors
/// [`SioError`] names the first rule the text breaks.
pub fn decode_text_with(text: &str, max_attachments: usize) -> Result<SioDecoded, SioError> {
    let mut chars = text.chars();
    let first = chars.next().ok_or(SioError::Empty)?;
    let kind = SioKind::from_char(first).ok_or(SioError::UnknownType(first))?;
    let mut rest = chars.as_str();

    let mut count = 0;
    if kind.is_binary() {
        let (digits, after) = rest
            .split_once('-')
            .ok_or_else(|| SioError::BadAttachments("missing the `<count>-` header".into()))?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SioError::BadAttachments(format!(
                "{:?} is not a number",
                truncate(digits)
            )));
        }
        count = digits.parse().unwrap_or(usize::MAX);
        if count == 0 {
            return Err(SioError::BadAttachments(
                "a binary packet needs at least one attachment".into(),
            ));
        }
        if count > max_attachments {
            return Err(SioError::TooManyAttachments {
                count,
                max: max_attachments,
            });
        }
        rest = after;
    }

    let mut nsp = DEFAULT_NSP;
    if rest.starts_with('/') {
        let (name, after) = rest.split_once(',').unwrap_or((rest, ""));
        check_nsp(name)?;
        nsp = name;
        rest = after;
    }

    let (id_digits, after) = rest.split_at(rest.bytes().take_while(u8::is_ascii_digit).count());
    rest = after;
    let id = match id_digits {
        "" => None,
        digits => Some(digits.parse::<u64>().map_err(|_| {
            SioError::BadAckId(format!("{} does not fit in 64 bits", truncate(digits)))
        })?),
    };

    let data = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(rest).map_err(|e| SioError::BadJson(e.to_string()))?)
    };
    check_payload(kind.base(), id, data.as_ref(), count)?;

    let packet = SioPacket {
        kind: kind.base(),
        nsp: nsp.to_owned(),
        id,
        data,
        attachments: Vec::new(),
    };
    Ok(if count > 0 {
        SioDecoded::NeedsAttachments { packet, count }
    } else {
        SioDecoded::Packet(packet)
    })
}

const EVENT_SHAPE: &str = "must be an array whose first item is the event name, a string";

fn check_nsp(nsp: &str) -> Result<(), SioError> {
    if nsp.len() > MAX_NSP_BYTES {
        return Err(SioError::BadNamespace(format!(
            "{} bytes long; the limit is {MAX_NSP_BYTES}",
            nsp.len()
        )));
    }
    if let Some(c) = nsp.chars().find(|&c| c == ',' || c.is_control()) {
        return Err(SioError::BadNamespace(format!("contains {c:?}")));
    }
    Ok(())
}

/// Checks id and payload against `kind` (a base kind), and placeholders
/// against `count` attachments.
fn check_payload(
    kind: SioKind,
    id: Option<u64>,
    data: Option<&Value>,
    count: usize,
) -> Result<(), SioError> {
    let invalid = |reason| Err(SioError::InvalidPayload { kind, reason });
    let no_id = || match id {
        Some(_) => Err(SioError::BadAckId(format!(
            "{kind} packets carry no ack id"
        ))),
        None => Ok(()),
    };
    match kind {
        SioKind::Connect => {
            no_id()?;
            if !matches!(data, None | Some(Value::Object(_))) {
                return invalid("must be an object or absent");
            }
        }
        SioKind::Disconnect => {
            no_id()?;
            if data.is_some() {
                return invalid("must be absent");
            }
        }
        SioKind::ConnectError => {
            no_id()?;
            if !matches!(data, Some(Value::Object(_) | Value::String(_))) {
                return invalid("must be an object or a string");
            }
        }
        SioKind::Event | SioKind::BinaryEvent => match data {
            Some(Value::Array(items)) => match items.first() {
                Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
                    return invalid("the event name is reserved");
                }
                Some(Value::String(_)) => {}
                _ => {
                    return invalid(EVENT_SHAPE);
                }
            },
            _ => return invalid(EVENT_SHAPE),
        },
        SioKind::Ack | SioKind::BinaryAck => {
            if id.is_none() {
                return Err(SioError::BadAckId(
                    "an ACK needs the id of the event it answers".into(),
                ));
            }
            if !matches!(data, Some(Value::Array(_))) {
                return invalid("must be an array");
            }
        }
    }
    match data {
        Some(data) => check_placeholders(data, count),
        None => Ok(()),
    }
}

/// Every `{"_placeholder":true,...}` object must be exactly
/// `{"_placeholder":true,"num":N}` with `N < count`.
fn check_placeholders(data: &Value, count: usize) -> Result<(), SioError> {
    let mut stack = vec![data];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
                let num = map.get("num").and_then(Value::as_u64);
                match num {
                    Some(n) if map.len() == 2 && n < count as u64 => {}
                    Some(n) if map.len() == 2 => {
                        return Err(SioError::BadPlaceholder(format!(
                            "refers to attachment {n}, but the packet has {count}"
                        )));
                    }
                    _ => {
                        return Err(SioError::BadPlaceholder(
                            "must be {\"_placeholder\":true,\"num\":<integer>}".into(),
                        ));
                    }
                }
            }
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
