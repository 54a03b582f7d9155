//! Turning stream entries into messages, and counting the ones that are not.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use herald_protocol::RoomName;
use herald_protocol::bus::{BusDecodeError, BusFrame, decode_bus_shared};
use redis::Value;

use super::scripts::{bytes_of, str_of};
use crate::Message;

/// Why an entry was skipped: the `reason` label of
/// `herald_bus_invalid_frames_total` (a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Bytes that are not a frame, or a frame that contradicts its entry.
    Malformed,
    /// A frame version this reader does not speak (a newer writer).
    UnsupportedVersion,
    /// A frame kind this reader does not know (a newer writer).
    UnknownKind,
}

impl Skip {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownKind => "unknown_kind",
        }
    }

    /// Every label value, registered at 0 at start.
    pub const ALL: [Skip; 3] = [Self::Malformed, Self::UnsupportedVersion, Self::UnknownKind];

    /// Why a frame failed to decode.
    pub fn of(e: &BusDecodeError) -> Self {
        match e {
            BusDecodeError::UnsupportedVersion(_) => Self::UnsupportedVersion,
            _ => Self::Malformed,
        }
    }
}

/// Counts and logs an entry that cannot be used; the stream goes on.
pub fn invalid(stream: &str, id: &str, why: &str) {
    skipped(stream, id, Skip::Malformed, why);
}

/// Counts and logs an entry skipped for `reason`; the stream goes on.
pub fn skipped(stream: &str, id: &str, reason: Skip, why: &str) {
    metrics::counter!(crate::metrics::INVALID_FRAMES, "reason" => reason.label()).increment(1);
    match reason {
        Skip::Malformed => tracing::warn!(stream, id, why, "skipping an invalid bus entry"),
        // Expected during a rolling upgrade: not worth a warning each.
        Skip::UnsupportedVersion | Skip::UnknownKind => {
            tracing::debug!(stream, id, why, "skipping a bus entry of a newer protocol")
        }
    }
}

/// The fields of a shard stream entry, before the frame is decoded.
pub struct ShardEntry {
    /// Field `r`.
    pub room: String,
    /// Field `e`.
    pub epoch: String,
    /// Field `o`.
    pub offset: u64,
    /// Field `f`, taken out of the reply (not copied).
    pub frame: Bytes,
}

/// Takes the fields of a shard stream entry out of its map.
///
/// # Errors
/// Names the missing or malformed field.
pub fn shard_entry(map: &mut HashMap<String, Value>) -> Result<ShardEntry, &'static str> {
    fn field<'m>(map: &'m HashMap<String, Value>, k: &str) -> Result<&'m Value, &'static str> {
        map.get(k).ok_or("missing field")
    }
    let room = str_of(field(map, "r")?).ok_or("bad field r")?.to_owned();
    let epoch = str_of(field(map, "e")?).ok_or("bad field e")?.to_owned();
    let offset = str_of(field(map, "o")?)
        .and_then(|o| o.parse().ok())
        .ok_or("bad field o")?;
    let frame = take_bytes(map, "f").ok_or("bad field f")?;
    Ok(ShardEntry {
        room,
        epoch,
        offset,
        frame,
    })
}

/// Takes a bulk-string field out of an entry's map, keeping its buffer.
pub fn take_bytes(map: &mut HashMap<String, Value>, key: &str) -> Option<Bytes> {
    match map.remove(key)? {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s.into_bytes())),
        _ => None,
    }
}

/// Builds the message a publication frame describes at `(epoch, offset)`;
/// its payload shares the frame's buffer.
///
/// # Errors
/// Says why the frame is not a publication to `room`.
pub fn message(
    room: &RoomName,
    epoch: Arc<str>,
    offset: u64,
    frame: &Bytes,
) -> Result<Message, (Skip, String)> {
    match decode_bus_shared(frame) {
        Ok(BusFrame::Publish(p)) if p.room == room.as_str() => Ok(Message::new(
            room.clone(),
            p.event,
            p.data,
            epoch,
            offset,
            p.ts_ms,
            p.src_ts_ms,
        )),
        Ok(BusFrame::Publish(_)) => {
            Err((Skip::Malformed, "frame room differs from field r".into()))
        }
        Ok(BusFrame::Unknown) => Err((
            Skip::UnknownKind,
            "a frame kind this node does not know".into(),
        )),
        Ok(_) => Err((Skip::Malformed, "not a publication frame".into())),
        Err(e) => Err((Skip::of(&e), e.to_string())),
    }
}

/// The frame bytes of a control stream entry (field `f`).
pub fn control_frame(map: &HashMap<String, Value>) -> Option<&[u8]> {
    map.get("f").and_then(bytes_of)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use herald_protocol::JsonText;
    use herald_protocol::bus::{Publication, encode_bus};

    /// The example frame of `docs/adapter-protocol.md`, byte for byte.
    #[test]
    fn the_documented_frame_decodes_into_the_documented_message() {
        let p = Publication {
            room: "chat:1".into(),
            event: "msg".into(),
            data: JsonText::from_value(&serde_json::json!({"n": 1})),
            ts_ms: 1_700_000_000_000,
            src_ts_ms: None,
            src: None,
            src_pos: None,
            fence: None,
            set: None,
        };
        let bytes = Bytes::from(encode_bus(&BusFrame::Publish(p)));
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, DOC_FRAME_HEX);
        let room = RoomName::new("chat:1").unwrap();
        for frame in [bytes.clone(), Bytes::from(unhex(DOC_FRAME_V1_HEX))] {
            let m = message(&room, Arc::from("r1"), 7, &frame).unwrap();
            assert_eq!(
                (m.event.as_str(), m.offset, m.ts_ms, m.data.as_str()),
                ("msg", 7, 1_700_000_000_000, r#"{"n":1}"#)
            );
        }
        assert!(message(&RoomName::new("other").unwrap(), Arc::from("r1"), 7, &bytes).is_err());
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Version 2: the map without `data`, then the payload's JSON text.
    const DOC_FRAME_HEX: &str = "0284a174a77075626c697368a4726f6f6da6636861743a31a56576656e74a36d7367a574735f6d73cf0000018bcfe568007b226e223a317d";

    /// The same publication as a version 1 frame (the payload in the map).
    const DOC_FRAME_V1_HEX: &str = "0185a174a77075626c697368a4726f6f6da6636861743a31a56576656e74a36d7367a46461746181a16e01a574735f6d73cf0000018bcfe56800";
}
