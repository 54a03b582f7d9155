//! The bus frame encoding: a version byte, then a MessagePack map, then
//! (for a publication) the payload's JSON text.
//!
//! Version 2 puts a publication's payload after the map, as the JSON text
//! it already is, so a reader takes it out without parsing it and a writer
//! puts it in without building a tree. Version 1 frames (the payload inside
//! the map, as MessagePack) are still read.

use std::io::{Cursor, Write};

use bytes::Bytes;
use serde::Deserialize;

use super::frame::BusFrame;
use crate::JsonText;

/// The bus frame format version this code writes.
pub const BUS_VERSION: u8 = 2;

/// The oldest version this code still reads.
pub const BUS_VERSION_MIN: u8 = 1;

/// Why bytes from the bus are not a frame this node can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusDecodeError {
    /// No bytes at all.
    #[error("empty bus frame")]
    Empty,
    /// A version this node does not speak: upgrade the node.
    #[error(
        "bus frame version {0} is not supported; this node reads versions {BUS_VERSION_MIN} to {BUS_VERSION}"
    )]
    UnsupportedVersion(u8),
    /// The MessagePack map is malformed or lacks a required field, or a
    /// publication's payload is missing or not JSON.
    #[error("malformed bus frame: {0}")]
    Malformed(String),
}

/// Encodes a frame: `[BUS_VERSION] ++ msgpack(frame)`, then a
/// publication's payload text.
pub fn encode_bus(frame: &BusFrame) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_bus(&mut out, frame);
    out
}

/// Writes the frame [`encode_bus`] returns into `out` (for example
/// straight into a Redis command's argument).
pub fn write_bus<W: Write + ?Sized>(out: &mut W, frame: &BusFrame) {
    let _ = write_bus_fallible(out, frame);
}

fn write_bus_fallible<W: Write + ?Sized>(out: &mut W, frame: &BusFrame) -> std::io::Result<()> {
    out.write_all(&[BUS_VERSION])?;
    // Every map key is a string; a writer that refuses bytes is the
    // caller's (a Vec or a Redis argument never does).
    rmp_serde::encode::write_named(&mut *out, frame)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let BusFrame::Publish(p) = frame {
        out.write_all(p.data.as_bytes())?;
    }
    Ok(())
}

/// A publication's frame in two parts: the version byte and the map, then
/// the payload text. Written one after the other they are the frame
/// [`encode_bus`] returns; kept apart, a publisher can write them straight
/// into its command buffer and never holds the whole frame.
#[derive(Debug, Clone)]
pub struct PublicationFrame {
    /// The version byte and the MessagePack map.
    pub head: Vec<u8>,
    /// The payload's JSON text.
    pub payload: JsonText,
}

impl PublicationFrame {
    /// Splits `p` into its frame's parts.
    pub fn new(p: crate::bus::Publication) -> Self {
        let frame = BusFrame::Publish(p);
        let mut head = Vec::with_capacity(96);
        head.push(BUS_VERSION);
        // Every map key is a string; writing into a Vec cannot fail.
        rmp_serde::encode::write_named(&mut head, &frame).expect("bus frames always serialize");
        let BusFrame::Publish(p) = frame else {
            unreachable!("built as a publication above")
        };
        Self {
            head,
            payload: p.data,
        }
    }

    /// The whole frame's length in bytes.
    pub fn len(&self) -> usize {
        self.head.len() + self.payload.len()
    }

    /// Whether the frame is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the whole frame.
    ///
    /// # Errors
    /// What `out` returns.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> std::io::Result<()> {
        out.write_all(&self.head)?;
        out.write_all(self.payload.as_bytes())
    }
}

/// Decodes a frame written by [`encode_bus`] or a compatible emitter; a
/// publication's payload is copied out of `bytes`.
///
/// # Errors
/// [`BusDecodeError`] says what is wrong; the caller skips the entry.
pub fn decode_bus(bytes: &[u8]) -> Result<BusFrame, BusDecodeError> {
    decode_with(bytes, Bytes::copy_from_slice)
}

/// Like [`decode_bus`], but a publication's payload shares `bytes` (no
/// copy): the gateway's path from a Redis reply to its sockets.
///
/// # Errors
/// As [`decode_bus`].
pub fn decode_bus_shared(bytes: &Bytes) -> Result<BusFrame, BusDecodeError> {
    decode_with(bytes, |tail| bytes.slice_ref(tail))
}

fn decode_with(
    bytes: &[u8],
    payload: impl FnOnce(&[u8]) -> Bytes,
) -> Result<BusFrame, BusDecodeError> {
    let malformed = |e: &dyn std::fmt::Display| BusDecodeError::Malformed(e.to_string());
    let (&version, body) = bytes.split_first().ok_or(BusDecodeError::Empty)?;
    match version {
        1 => rmp_serde::from_slice(body).map_err(|e| malformed(&e)),
        2 => {
            let mut de = rmp_serde::Deserializer::new(Cursor::new(body));
            let mut frame = BusFrame::deserialize(&mut de).map_err(|e| malformed(&e))?;
            let used = usize::try_from(de.position()).unwrap_or(body.len());
            let tail = body.get(used..).unwrap_or_default();
            if let BusFrame::Publish(p) = &mut frame {
                if tail.is_empty() {
                    return Err(malformed(&"publication without a payload"));
                }
                p.data = JsonText::parse(payload(tail)).map_err(|e| malformed(&e))?;
            }
            Ok(frame)
        }
        v => Err(BusDecodeError::UnsupportedVersion(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::frame::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn publication() -> impl Strategy<Value = Publication> {
        (
            "[a-z:]{1,30}",
            "[a-z:]{1,20}",
            any::<i32>(),
            any::<u64>(),
            prop::option::of(any::<u64>()),
            prop::option::of("[0-9A-F]{8,40}"),
            prop::option::of(any::<u64>()),
        )
            .prop_map(
                |(room, event, n, ts_ms, src_ts_ms, src_pos, fence)| Publication {
                    room,
                    event,
                    data: JsonText::from_value(&json!({"n": n, "tags": ["a", n.to_string()]})),
                    ts_ms,
                    src_ts_ms,
                    src: src_pos.as_ref().map(|_| "orders".to_owned()),
                    src_pos,
                    fence,
                    set: None,
                },
            )
    }

    fn frame() -> impl Strategy<Value = BusFrame> {
        let target = prop_oneof![
            "[a-z]{1,8}".prop_map(ControlTarget::Room),
            "[a-z]{1,8}".prop_map(ControlTarget::User),
            "[a-z]{1,8}".prop_map(ControlTarget::Session),
        ];
        prop_oneof![
            publication().prop_map(BusFrame::Publish),
            (target.clone(), "[a-z ]{0,10}").prop_map(|(target, reason)| BusFrame::Control(
                Control::Disconnect { target, reason }
            )),
            (target.clone(), "[a-z]{1,8}")
                .prop_map(|(target, room)| BusFrame::Control(Control::Join { target, room })),
            (target.clone(), "[a-z]{1,8}")
                .prop_map(|(target, room)| BusFrame::Control(Control::Leave { target, room })),
            ("[a-z0-9]{1,8}", any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
                |(node, ts_ms, connections, rooms)| {
                    BusFrame::Heartbeat(NodeHeartbeat {
                        node,
                        ts_ms,
                        connections,
                        rooms,
                    })
                }
            ),
            (
                "[a-z0-9]{1,8}",
                prop::collection::vec("[a-z]{1,5}", 0..4),
                any::<bool>()
            )
                .prop_map(|(request, rooms, sessions)| BusFrame::PresenceQuery(
                    PresenceQuery {
                        request,
                        rooms,
                        sessions,
                        reply_to: "n1".into(),
                        users: None,
                    }
                )),
            ("[a-z0-9]{1,8}", prop::collection::vec(any::<u64>(), 0..4)).prop_map(
                |(request, counts)| {
                    BusFrame::PresenceReply(PresenceReply {
                        request,
                        node: "n2".into(),
                        counts,
                        sessions: vec![],
                        users: vec![],
                    })
                }
            ),
            (target, "[a-z:]{1,12}", any::<i32>(), any::<u64>()).prop_map(
                |(target, event, n, timeout_ms)| BusFrame::AskRequest(AskRequest {
                    request: "r1".into(),
                    reply_to: "n1".into(),
                    target,
                    event,
                    data: json!({ "n": n }),
                    timeout_ms,
                })
            ),
            (
                any::<u64>(),
                prop::collection::vec((any::<i32>(), any::<bool>()), 0..4)
            )
                .prop_map(|(sent, acks)| BusFrame::AskReply(AskReply {
                    request: "r1".into(),
                    node: "n2".into(),
                    sent,
                    answers: acks
                        .into_iter()
                        .map(|(n, ok)| AskAnswer {
                            sid: format!("s{n}"),
                            nsp: ok.then(|| "/".into()),
                            args: ok.then(|| vec![json!(n), json!("x")]),
                            error: (!ok).then(|| "no acks".into()),
                        })
                        .collect(),
                })),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(f in frame()) {
            prop_assert_eq!(decode_bus(&encode_bus(&f))?, f);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_bus(&bytes);
        }
    }

    #[test]
    fn unknown_version_is_refused_by_number() {
        let mut bytes = encode_bus(&BusFrame::Heartbeat(NodeHeartbeat {
            node: "n".into(),
            ts_ms: 1,
            connections: 2,
            rooms: 3,
        }));
        bytes[0] = 3;
        assert_eq!(
            decode_bus(&bytes),
            Err(BusDecodeError::UnsupportedVersion(3))
        );
        bytes[0] = 0;
        assert_eq!(
            decode_bus(&bytes),
            Err(BusDecodeError::UnsupportedVersion(0))
        );
        assert_eq!(decode_bus(&[]), Err(BusDecodeError::Empty));
        assert!(matches!(
            decode_bus(&[1, 0xc1]),
            Err(BusDecodeError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        #[derive(serde::Serialize)]
        struct Future<'a> {
            t: &'a str,
            node: &'a str,
            ts_ms: u64,
            connections: u64,
            rooms: u64,
            zone: &'a str,
        }
        let mut bytes = vec![BUS_VERSION];
        bytes.extend(
            rmp_serde::to_vec_named(&Future {
                t: "heartbeat",
                node: "n",
                ts_ms: 1,
                connections: 0,
                rooms: 0,
                zone: "eu",
            })
            .unwrap(),
        );
        assert!(matches!(decode_bus(&bytes), Ok(BusFrame::Heartbeat(_))));
    }

    fn sample(data: serde_json::Value) -> Publication {
        Publication {
            room: "chat:1".into(),
            event: "msg".into(),
            data: JsonText::from_value(&data),
            ts_ms: 1_700_000_000_000,
            src_ts_ms: Some(5),
            src: Some("orders".into()),
            src_pos: Some("82AB".into()),
            fence: Some(3),
            set: None,
        }
    }

    #[test]
    fn a_publication_carries_its_payload_text_after_the_map() {
        let p = sample(json!({"n": 1, "s": "x"}));
        let bytes = encode_bus(&BusFrame::Publish(p.clone()));
        assert_eq!(bytes[0], BUS_VERSION);
        assert!(bytes.ends_with(br#"{"n":1,"s":"x"}"#), "{bytes:?}");
        // The map alone decodes, and holds no payload.
        let map_len = bytes.len() - 1 - p.data.len();
        let head: rmpv::Value = rmp_serde::from_slice(&bytes[1..1 + map_len]).unwrap();
        assert!(
            head.as_map()
                .unwrap()
                .iter()
                .all(|(k, _)| k.as_str() != Some("data"))
        );
        assert_eq!(decode_bus(&bytes).unwrap(), BusFrame::Publish(p));
    }

    #[test]
    fn the_two_parts_are_the_frame() {
        let p = sample(json!({"n": [1, "two"]}));
        let whole = encode_bus(&BusFrame::Publish(p.clone()));
        let parts = PublicationFrame::new(p);
        let mut joined = Vec::new();
        parts.write_to(&mut joined).unwrap();
        assert_eq!((joined.len(), &joined), (parts.len(), &whole));
    }

    #[test]
    fn the_shared_decode_points_into_the_frame() {
        let p = sample(json!([1, 2, 3]));
        let bytes = Bytes::from(encode_bus(&BusFrame::Publish(p.clone())));
        let Ok(BusFrame::Publish(got)) = decode_bus_shared(&bytes) else {
            panic!("not a publication");
        };
        assert_eq!(got, p);
        let range = bytes.as_ptr_range();
        assert!(
            range.contains(&got.data.as_bytes().as_ptr()),
            "payload was copied"
        );
    }

    #[test]
    fn a_version_1_publication_is_still_read() {
        let mut bytes = vec![1u8];
        bytes.extend(
            rmp_serde::to_vec_named(&json!({
                "t": "publish", "room": "chat:1", "event": "msg",
                "data": {"n": 1}, "ts_ms": 7
            }))
            .unwrap(),
        );
        let Ok(BusFrame::Publish(p)) = decode_bus(&bytes) else {
            panic!("not a publication");
        };
        assert_eq!((p.room.as_str(), p.ts_ms), ("chat:1", 7));
        assert_eq!(p.data.to_value(), json!({"n": 1}));
    }

    #[test]
    fn a_publication_without_a_valid_payload_is_refused() {
        let p = sample(json!({"n": 1}));
        let bytes = encode_bus(&BusFrame::Publish(p.clone()));
        let head = &bytes[..bytes.len() - p.data.len()];
        assert!(
            matches!(decode_bus(head), Err(BusDecodeError::Malformed(m)) if m.contains("payload"))
        );
        for tail in [&b"{"[..], b"\xff", b"1 2", b"{\"n\":1}x"] {
            let mut bad = head.to_vec();
            bad.extend_from_slice(tail);
            assert!(
                matches!(decode_bus(&bad), Err(BusDecodeError::Malformed(_))),
                "{tail:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn shared_and_copying_decodes_agree(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let shared = decode_bus_shared(&Bytes::from(bytes.clone()));
            prop_assert_eq!(shared, decode_bus(&bytes));
        }
    }
}
