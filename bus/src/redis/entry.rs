//! Turning stream entries into messages, and counting the ones that are not.

use std::collections::HashMap;
use std::sync::Arc;

use herald_protocol::RoomName;
use herald_protocol::bus::{BusDecodeError, BusFrame, decode_bus};
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
pub struct ShardEntry<'a> {
    /// Field `r`.
    pub room: &'a str,
    /// Field `e`.
    pub epoch: &'a str,
    /// Field `o`.
    pub offset: u64,
    /// Field `f`.
    pub frame: &'a [u8],
}

/// Reads the fields of a shard stream entry.
///
/// # Errors
/// Names the missing or malformed field.
pub fn shard_entry(map: &HashMap<String, Value>) -> Result<ShardEntry<'_>, &'static str> {
    let field = |k: &str| map.get(k).ok_or("missing field");
    Ok(ShardEntry {
        room: str_of(field("r")?).ok_or("bad field r")?,
        epoch: str_of(field("e")?).ok_or("bad field e")?,
        offset: str_of(field("o")?)
            .and_then(|o| o.parse().ok())
            .ok_or("bad field o")?,
        frame: bytes_of(field("f")?).ok_or("bad field f")?,
    })
}

/// Builds the message a publication frame describes at `(epoch, offset)`.
///
/// # Errors
/// Says why the frame is not a publication to `room`.
pub fn message(
    room: &RoomName,
    epoch: Arc<str>,
    offset: u64,
    frame: &[u8],
) -> Result<Message, (Skip, String)> {
    match decode_bus(frame) {
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
    use herald_protocol::bus::{Publication, encode_bus};

    /// The example frame of `docs/adapter-protocol.md`, byte for byte.
    #[test]
    fn the_documented_frame_decodes_into_the_documented_message() {
        let p = Publication {
            room: "chat:1".into(),
            event: "msg".into(),
            data: serde_json::json!({"n": 1}),
            ts_ms: 1_700_000_000_000,
            src_ts_ms: None,
            src: None,
            src_pos: None,
            fence: None,
        };
        let bytes = encode_bus(&BusFrame::Publish(p));
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, DOC_FRAME_HEX);
        let room = RoomName::new("chat:1").unwrap();
        let m = message(&room, Arc::from("r1"), 7, &bytes).unwrap();
        assert_eq!(
            (m.event.as_str(), m.offset, m.ts_ms),
            ("msg", 7, 1_700_000_000_000)
        );
        assert!(message(&RoomName::new("other").unwrap(), Arc::from("r1"), 7, &bytes).is_err());
    }

    const DOC_FRAME_HEX: &str = "0185a174a77075626c697368a4726f6f6da6636861743a31a56576656e74a36d7367a46461746181a16e01a574735f6d73cf0000018bcfe56800";
}
