//! Decoding and encoding native frames, in JSON or MessagePack.

use std::io::Write as _;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{ClientFrame, OPS};
use super::server::ServerFrame;
use crate::JsonText;
use crate::room::{self, RoomError};

/// Which encoding a frame travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON, in WebSocket text frames.
    Json,
    /// MessagePack maps with field names, in WebSocket binary frames.
    MsgPack,
}

/// Why a client frame could not be decoded. Each maps to an error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON or MessagePack, not an object, or a field is missing
    /// or of the wrong type.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// An object whose `op` is not one the protocol knows.
    #[error("unknown op {0:?}; known ops are subscribe, unsubscribe, leave_all, publish, ping")]
    UnknownOp(String),
    /// The `room` field breaks the room-name rules.
    #[error("invalid room: {0}")]
    InvalidRoom(#[from] RoomError),
}

impl DecodeError {
    /// The error code the gateway answers with.
    pub fn code(&self) -> super::ErrorCode {
        use super::ErrorCode;
        match self {
            Self::BadFrame(_) => ErrorCode::BadFrame,
            Self::UnknownOp(_) => ErrorCode::UnknownOp,
            Self::InvalidRoom(_) => ErrorCode::InvalidRoom,
        }
    }
}

/// Decodes one client frame.
///
/// The `id` of a frame that fails after its envelope was read is returned
/// alongside the error, so the reply can carry it.
///
/// # Errors
/// [`DecodeError`] says which rule the bytes broke.
pub fn decode_client(
    bytes: &[u8],
    format: Format,
) -> Result<ClientFrame, (DecodeError, Option<u64>)> {
    let value = to_value(bytes, format).map_err(|e| (e, None))?;
    let Value::Object(map) = &value else {
        return Err((
            DecodeError::BadFrame("a frame must be an object".into()),
            None,
        ));
    };
    let id = map.get("id").and_then(Value::as_u64);
    let op = match map.get("op") {
        Some(Value::String(op)) => op,
        Some(_) => return Err((DecodeError::BadFrame("`op` must be a string".into()), id)),
        None => return Err((DecodeError::BadFrame("missing field `op`".into()), id)),
    };
    if !OPS.contains(&op.as_str()) {
        return Err((DecodeError::UnknownOp(truncate(op, 64)), id));
    }
    if let Some(Value::String(r)) = map.get("room") {
        room::validate(r).map_err(|e| (DecodeError::InvalidRoom(e), id))?;
    }
    serde_json::from_value(value).map_err(|e| (DecodeError::BadFrame(e.to_string()), id))
}

/// Encodes one server frame.
pub fn encode_server(frame: &ServerFrame, format: Format) -> Vec<u8> {
    encode(frame, format)
}

/// Decodes one server frame (for clients: the load generator and tests).
///
/// # Errors
/// [`DecodeError::BadFrame`] when the bytes are not a server frame.
pub fn decode_server(bytes: &[u8], format: Format) -> Result<ServerFrame, DecodeError> {
    decode(bytes, format)
}

/// Encodes one client frame (for clients: the load generator and tests).
pub fn encode_client(frame: &ClientFrame, format: Format) -> Vec<u8> {
    encode(frame, format)
}

fn to_value(bytes: &[u8], format: Format) -> Result<Value, DecodeError> {
    decode(bytes, format)
}

fn decode<T: DeserializeOwned>(bytes: &[u8], format: Format) -> Result<T, DecodeError> {
    match format {
        Format::Json => {
            serde_json::from_slice(bytes).map_err(|e| DecodeError::BadFrame(e.to_string()))
        }
        Format::MsgPack => {
            rmp_serde::from_slice(bytes).map_err(|e| DecodeError::BadFrame(e.to_string()))
        }
    }
}

/// A `message` frame's fields, borrowed: a broadcast encodes its frame
/// from the stored publication without cloning the payload.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MessageRef<'a> {
    /// Always `"message"`: the frame's type tag.
    #[serde(rename = "type")]
    pub kind: MessageTag,
    /// The room.
    pub room: &'a str,
    /// The event name.
    pub event: &'a str,
    /// The payload, as JSON text.
    pub data: &'a JsonText,
    /// The publication's offset in the room.
    pub offset: u64,
    /// When the publication entered the bus, in Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
}

/// The `message` type tag (serializes as `"message"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageTag;

impl Serialize for MessageTag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("message")
    }
}

/// Appends `m` as a `message` frame to `out`: the same bytes as
/// [`encode_server`] of the equivalent [`ServerFrame::Message`]. In JSON the
/// payload's text is spliced in as is; MessagePack parses it once.
pub fn encode_message_into(out: &mut Vec<u8>, m: &MessageRef<'_>, format: Format) {
    match format {
        Format::Json => {
            out.reserve(m.room.len() + m.event.len() + m.data.len() + 80);
            out.extend_from_slice(br#"{"type":"message","room":"#);
            json_str(out, m.room);
            out.extend_from_slice(br#","event":"#);
            json_str(out, m.event);
            out.extend_from_slice(br#","data":"#);
            out.extend_from_slice(m.data.as_bytes());
            // Writing into a Vec cannot fail.
            let _ = write!(out, r#","offset":{}"#, m.offset);
            if let Some(ts) = m.ts {
                let _ = write!(out, r#","ts":{ts}"#);
            }
            out.push(b'}');
        }
        // Writing into a Vec cannot fail, and every map key is a string.
        Format::MsgPack => {
            rmp_serde::encode::write_named(out, m).expect("messages serialize to MessagePack")
        }
    }
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn encode<T: Serialize>(value: &T, format: Format) -> Vec<u8> {
    match format {
        // Serializing these types cannot fail: every map key is a string and
        // `serde_json::Value` holds no non-finite floats.
        Format::Json => serde_json::to_vec(value).expect("protocol types always serialize to JSON"),
        Format::MsgPack => {
            rmp_serde::to_vec_named(value).expect("protocol types always serialize to MessagePack")
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_message_encodes_exactly_as_the_owned_frame() {
        let data = serde_json::json!({"n": [1, 2.5, "x"], "s": null});
        for format in [Format::Json, Format::MsgPack] {
            for ts in [Some(17), None] {
                let owned = encode_server(
                    &ServerFrame::Message {
                        room: "dashboard:sales".into(),
                        event: "dashboard:update".into(),
                        data: data.clone(),
                        offset: 9,
                        ts,
                    },
                    format,
                );
                let mut borrowed = vec![0xAA];
                encode_message_into(
                    &mut borrowed,
                    &MessageRef {
                        kind: MessageTag,
                        room: "dashboard:sales",
                        event: "dashboard:update",
                        data: &JsonText::from_value(&data),
                        offset: 9,
                        ts,
                    },
                    format,
                );
                assert_eq!(&borrowed[1..], &owned[..], "{format:?} {ts:?}");
            }
        }
    }
    use crate::native::{CloseCode, ErrorCode};
    use crate::{Position, RoomName};
    use proptest::prelude::*;

    fn json(s: &str) -> Result<ClientFrame, (DecodeError, Option<u64>)> {
        decode_client(s.as_bytes(), Format::Json)
    }

    #[test]
    fn decodes_a_subscribe_with_since() {
        let f = json(r#"{"op":"subscribe","room":"dashboard:sales","since":{"epoch":"e1","offset":4},"id":7}"#).unwrap();
        assert_eq!(
            f,
            ClientFrame::Subscribe {
                room: RoomName::new("dashboard:sales").unwrap(),
                since: Some(Position {
                    epoch: "e1".into(),
                    offset: 4
                }),
                leave_others: false,
                token: None,
                id: Some(7)
            }
        );
    }

    #[test]
    fn each_kind_of_bad_input_gets_its_own_error() {
        assert_eq!(json("{not json").unwrap_err().0.code(), ErrorCode::BadFrame);
        assert_eq!(json("[1,2]").unwrap_err().0.code(), ErrorCode::BadFrame);
        assert_eq!(
            json(r#"{"room":"a"}"#).unwrap_err().0.code(),
            ErrorCode::BadFrame
        );
        let (e, id) = json(r#"{"op":"explode","id":3}"#).unwrap_err();
        assert_eq!((e.code(), id), (ErrorCode::UnknownOp, Some(3)));
        let (e, id) = json(r#"{"op":"subscribe","room":"bad room","id":4}"#).unwrap_err();
        assert_eq!((e.code(), id), (ErrorCode::InvalidRoom, Some(4)));
        let (e, _) = json(r#"{"op":"subscribe"}"#).unwrap_err();
        assert!(e.to_string().contains("room"), "{e}");
        assert_eq!(
            decode_client(&[0xc1, 0xff, 0x00], Format::MsgPack)
                .unwrap_err()
                .0
                .code(),
            ErrorCode::BadFrame
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(json(r#"{"op":"ping","future":true}"#).is_ok());
    }

    fn room() -> impl Strategy<Value = RoomName> {
        "[a-z0-9:_.-]{1,40}".prop_map(|s| RoomName::new(&s).unwrap())
    }

    fn data() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn client_frame() -> impl Strategy<Value = ClientFrame> {
        let id = prop::option::of(any::<u64>());
        prop_oneof![
            (
                room(),
                prop::option::of(("[a-f0-9]{1,16}", any::<u64>())),
                any::<bool>(),
                id.clone()
            )
                .prop_map(|(room, since, leave_others, id)| ClientFrame::Subscribe {
                    room,
                    since: since.map(|(epoch, offset)| Position { epoch, offset }),
                    leave_others,
                    token: None,
                    id
                }),
            ("[A-Za-z0-9._-]{1,40}", id.clone())
                .prop_map(|(token, id)| ClientFrame::Auth { token, id }),
            ("[A-Za-z0-9._-]{1,40}", id.clone())
                .prop_map(|(token, id)| ClientFrame::Refresh { token, id }),
            (room(), id.clone()).prop_map(|(room, id)| ClientFrame::Unsubscribe { room, id }),
            id.clone().prop_map(|id| ClientFrame::LeaveAll { id }),
            (room(), "[a-z:]{1,20}", data(), id.clone()).prop_map(|(room, event, data, id)| {
                ClientFrame::Publish {
                    room,
                    event,
                    data,
                    id,
                }
            }),
            id.prop_map(|id| ClientFrame::Ping { id }),
        ]
    }

    fn server_frame() -> impl Strategy<Value = ServerFrame> {
        prop_oneof![
            (
                room(),
                "[a-z:]{1,20}",
                data(),
                any::<u64>(),
                prop::option::of(any::<u64>())
            )
                .prop_map(|(room, event, data, offset, ts)| ServerFrame::Message {
                    room: room.to_string(),
                    event,
                    data,
                    offset,
                    ts
                }),
            (room(), "[a-f0-9]{8}", any::<u64>(), any::<bool>()).prop_map(
                |(room, epoch, offset, recovered)| {
                    ServerFrame::Subscribed {
                        room: room.to_string(),
                        epoch,
                        offset,
                        recovered,
                        id: None,
                    }
                }
            ),
            prop::sample::select(ErrorCode::ALL.to_vec()).prop_map(|code| ServerFrame::error(
                code,
                code.name(),
                Some(1)
            )),
            prop::sample::select(CloseCode::ALL.to_vec()).prop_map(ServerFrame::disconnect),
        ]
    }

    proptest! {
        #[test]
        fn client_frames_round_trip_in_both_formats(f in client_frame()) {
            for format in [Format::Json, Format::MsgPack] {
                let bytes = encode_client(&f, format);
                prop_assert_eq!(decode_client(&bytes, format).map_err(|e| e.0)?, f.clone());
            }
        }

        #[test]
        fn server_frames_round_trip_in_both_formats(f in server_frame()) {
            for format in [Format::Json, Format::MsgPack] {
                let bytes = encode_server(&f, format);
                prop_assert_eq!(decode_server(&bytes, format)?, f.clone());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_client(&bytes, Format::Json);
            let _ = decode_client(&bytes, Format::MsgPack);
        }
    }
}
