//! The bus frame encoding: a version byte, then a MessagePack map.

use super::frame::BusFrame;

/// The bus frame format version this code writes and reads.
pub const BUS_VERSION: u8 = 1;

/// Why bytes from the bus are not a frame this node can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusDecodeError {
    /// No bytes at all.
    #[error("empty bus frame")]
    Empty,
    /// A version this node does not speak: upgrade the node.
    #[error("bus frame version {0} is not supported; this node speaks version {BUS_VERSION}")]
    UnsupportedVersion(u8),
    /// The MessagePack body is malformed or lacks a required field.
    #[error("malformed bus frame: {0}")]
    Malformed(String),
}

/// Encodes a frame: `[BUS_VERSION] ++ msgpack(frame)`.
pub fn encode_bus(frame: &BusFrame) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(BUS_VERSION);
    // Writing into a Vec cannot fail, and every map key is a string.
    rmp_serde::encode::write_named(&mut out, frame).expect("bus frames always serialize");
    out
}

/// Decodes a frame written by [`encode_bus`] or a compatible emitter.
///
/// # Errors
/// [`BusDecodeError`] says what is wrong; the caller skips the entry.
pub fn decode_bus(bytes: &[u8]) -> Result<BusFrame, BusDecodeError> {
    let (&version, body) = bytes.split_first().ok_or(BusDecodeError::Empty)?;
    if version != BUS_VERSION {
        return Err(BusDecodeError::UnsupportedVersion(version));
    }
    rmp_serde::from_slice(body).map_err(|e| BusDecodeError::Malformed(e.to_string()))
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
                    data: json!({"n": n, "tags": ["a", n.to_string()]}),
                    ts_ms,
                    src_ts_ms,
                    src: src_pos.as_ref().map(|_| "orders".to_owned()),
                    src_pos,
                    fence,
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
        bytes[0] = 2;
        assert_eq!(
            decode_bus(&bytes),
            Err(BusDecodeError::UnsupportedVersion(2))
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
}
