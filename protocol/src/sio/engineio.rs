//! Engine.IO v4 packets, one WebSocket frame at a time.
//!
//! A text frame is one type digit followed by the packet's data
//! (`0{...}` open, `2` ping, `3probe` pong, `4hello` message...). In v4 a
//! WebSocket binary frame is always a message and carries the raw bytes with
//! no type prefix. HTTP long-polling payloads live in [`super::polling`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The Engine.IO protocol revision this codec speaks (the `EIO=4` query
/// parameter).
pub const EIO_VERSION: u8 = 4;

/// The `sid`, timers and limits the server announces in its open packet.
///
/// Serialized as `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInfo {
    /// The Engine.IO session id; polling requests carry it as `sid=`.
    pub sid: String,
    /// Transports the client may upgrade to (`["websocket"]` for a polling
    /// session, empty for a WebSocket session).
    pub upgrades: Vec<String>,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong before closing.
    pub ping_timeout: u64,
    /// The largest polling payload, in bytes, the server accepts.
    pub max_payload: u64,
}

/// A message's body: text or raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioData {
    /// A UTF-8 message (every Socket.IO text packet).
    Text(String),
    /// A binary message (a Socket.IO binary attachment).
    Binary(Bytes),
}

/// One Engine.IO v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket {
    /// `0`: the server opens the session.
    Open(OpenInfo),
    /// `1`: either side closes the session.
    Close,
    /// `2`: a heartbeat (sent by the server), or `2probe` during an upgrade
    /// (sent by the client). `Some("")` encodes like `None`.
    Ping(Option<String>),
    /// `3`: the answer to a ping, echoing its data (`3probe`).
    Pong(Option<String>),
    /// `4`: a message for the layer above.
    Message(EioData),
    /// `5`: the client completes a transport upgrade.
    Upgrade,
    /// `6`: forces a pending poll to return during an upgrade.
    Noop,
}

/// One WebSocket frame carrying an Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame: the type digit, then the data.
    Text(String),
    /// A binary frame: a binary message's raw bytes.
    Binary(Bytes),
}

/// Why text is not an Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EioError {
    /// A frame or a polling packet with no bytes at all.
    #[error("empty Engine.IO packet")]
    Empty,
    /// The first character is not a packet type digit `0`..=`6`.
    #[error("unknown Engine.IO packet type {0:?}; expected a digit 0 to 6")]
    UnknownType(char),
    /// An open packet whose JSON lacks a field or has one of the wrong type.
    #[error("malformed open packet: {0}")]
    BadOpen(String),
    /// A polling packet starting with `b` whose rest is not base64.
    #[error("binary polling packet is not valid base64: {0}")]
    BadBase64(String),
    /// A polling payload longer than the session's `maxPayload`.
    #[error("polling payload is {len} bytes; the limit is {max}")]
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
}

impl EioPacket {
    /// The packet's type digit on the wire.
    pub fn type_char(&self) -> char {
        match self {
            Self::Open(_) => '0',
            Self::Close => '1',
            Self::Ping(_) => '2',
            Self::Pong(_) => '3',
            Self::Message(_) => '4',
            Self::Upgrade => '5',
            Self::Noop => '6',
        }
    }

    /// A text message packet.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Message(EioData::Text(text.into()))
    }

    /// A binary message packet.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Self::Message(EioData::Binary(bytes.into()))
    }
}

/// Encodes a packet as one WebSocket frame: a binary message becomes a
/// binary frame of its raw bytes, everything else a text frame.
pub fn encode_ws(packet: &EioPacket) -> WsFrame {
    match packet {
        EioPacket::Message(EioData::Binary(bytes)) => WsFrame::Binary(bytes.clone()),
        other => WsFrame::Text(encode_text(other).unwrap_or_default()),
    }
}

/// Encodes a packet as text, or `None` for a binary message (which travels
/// as a binary frame, or base64 in a polling payload).
pub fn encode_text(packet: &EioPacket) -> Option<String> {
    let mut out = String::new();
    write_text(packet, &mut out).then_some(out)
}

/// Appends a non-binary packet's text form to `out`; returns `false` (and
/// writes nothing) for a binary message.
pub(crate) fn write_text(packet: &EioPacket, out: &mut String) -> bool {
    match packet {
        EioPacket::Message(EioData::Binary(_)) => return false,
        EioPacket::Message(EioData::Text(text)) => {
            out.reserve(1 + text.len());
            out.push('4');
            out.push_str(text);
        }
        EioPacket::Open(info) => {
            out.push('0');
            // A struct of strings and integers always serializes.
            out.push_str(&serde_json::to_string(info).expect("OpenInfo always serializes"));
        }
        EioPacket::Ping(data) | EioPacket::Pong(data) => {
            out.push(packet.type_char());
            out.push_str(data.as_deref().unwrap_or_default());
        }
        EioPacket::Close | EioPacket::Upgrade | EioPacket::Noop => out.push(packet.type_char()),
    }
    true
}

/// Decodes a WebSocket text frame (or one text packet of a polling payload).
///
/// Data after a close, upgrade or noop type digit is ignored, as the
/// reference implementation does.
///
/// # Errors
/// [`EioError::Empty`], [`EioError::UnknownType`], or [`EioError::BadOpen`].
pub fn decode_text(text: &str) -> Result<EioPacket, EioError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(EioError::Empty)?;
    let data = chars.as_str();
    let opt = |d: &str| (!d.is_empty()).then(|| d.to_owned());
    Ok(match kind {
        '0' => EioPacket::Open(
            serde_json::from_str(data).map_err(|e| EioError::BadOpen(e.to_string()))?,
        ),
        '1' => EioPacket::Close,
        '2' => EioPacket::Ping(opt(data)),
        '3' => EioPacket::Pong(opt(data)),
        '4' => EioPacket::Message(EioData::Text(data.to_owned())),
        '5' => EioPacket::Upgrade,
        '6' => EioPacket::Noop,
        other => return Err(EioError::UnknownType(other)),
    })
}

/// Decodes a WebSocket binary frame: always a binary message in v4.
pub fn decode_binary(bytes: Bytes) -> EioPacket {
    EioPacket::Message(EioData::Binary(bytes))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn open() -> OpenInfo {
        OpenInfo {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        }
    }

    #[test]
    fn open_packet_uses_the_spec_field_names() {
        let text = encode_text(&EioPacket::Open(open())).unwrap();
        assert_eq!(
            text,
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(decode_text(&text).unwrap(), EioPacket::Open(open()));
    }

    #[test]
    fn decodes_real_world_frames() {
        assert_eq!(decode_text("2").unwrap(), EioPacket::Ping(None));
        assert_eq!(decode_text("3").unwrap(), EioPacket::Pong(None));
        assert_eq!(
            decode_text("2probe").unwrap(),
            EioPacket::Ping(Some("probe".into()))
        );
        assert_eq!(
            decode_text("3probe").unwrap(),
            EioPacket::Pong(Some("probe".into()))
        );
        assert_eq!(decode_text("5").unwrap(), EioPacket::Upgrade);
        assert_eq!(decode_text("6").unwrap(), EioPacket::Noop);
        assert_eq!(decode_text("1").unwrap(), EioPacket::Close);
        assert_eq!(decode_text("4hello €").unwrap(), EioPacket::text("hello €"));
        assert_eq!(decode_text("4").unwrap(), EioPacket::text(""));
        assert_eq!(
            decode_text(r#"42["hello",1]"#).unwrap(),
            EioPacket::text(r#"2["hello",1]"#)
        );
        // Extra data after a data-less type is ignored, like the reference parser.
        assert_eq!(decode_text("6xyz").unwrap(), EioPacket::Noop);
    }

    #[test]
    fn each_bad_frame_gets_its_own_error() {
        assert_eq!(decode_text(""), Err(EioError::Empty));
        assert_eq!(decode_text("7"), Err(EioError::UnknownType('7')));
        assert_eq!(decode_text("€x"), Err(EioError::UnknownType('€')));
        assert!(matches!(
            decode_text("0{\"sid\":1}"),
            Err(EioError::BadOpen(_))
        ));
        assert!(matches!(decode_text("0"), Err(EioError::BadOpen(_))));
        let e = decode_text(r#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2}"#)
            .unwrap_err();
        assert!(e.to_string().contains("maxPayload"), "{e}");
    }

    #[test]
    fn binary_messages_travel_as_raw_binary_frames() {
        let p = EioPacket::binary(vec![1u8, 2, 3]);
        assert_eq!(
            encode_ws(&p),
            WsFrame::Binary(Bytes::from_static(&[1, 2, 3]))
        );
        assert_eq!(encode_text(&p), None);
        assert_eq!(decode_binary(Bytes::from_static(&[1, 2, 3])), p);
        assert_eq!(encode_ws(&EioPacket::Ping(None)), WsFrame::Text("2".into()));
    }

    pub(crate) fn packet() -> impl Strategy<Value = EioPacket> {
        let data = prop::option::of("[a-z0-9]{1,8}");
        prop_oneof![
            (
                "[A-Za-z0-9_-]{1,24}",
                prop::collection::vec("[a-z]{1,10}", 0..3),
                any::<u64>(),
                any::<u64>(),
                any::<u64>()
            )
                .prop_map(
                    |(sid, upgrades, ping_interval, ping_timeout, max_payload)| {
                        EioPacket::Open(OpenInfo {
                            sid,
                            upgrades,
                            ping_interval,
                            ping_timeout,
                            max_payload,
                        })
                    }
                ),
            Just(EioPacket::Close),
            data.clone().prop_map(EioPacket::Ping),
            data.prop_map(EioPacket::Pong),
            // Raw record separators cannot travel in polling payloads; JSON
            // escapes them, so Socket.IO text never holds one.
            "[^\u{1e}]{0,40}".prop_map(EioPacket::text),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(EioPacket::binary),
            Just(EioPacket::Upgrade),
            Just(EioPacket::Noop),
        ]
    }

    proptest! {
        #[test]
        fn packets_round_trip_over_websocket(p in packet()) {
            let decoded = match encode_ws(&p) {
                WsFrame::Text(t) => decode_text(&t)?,
                WsFrame::Binary(b) => decode_binary(b),
            };
            prop_assert_eq!(decoded, p);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
            let _ = decode_text(&s);
        }
    }
}
