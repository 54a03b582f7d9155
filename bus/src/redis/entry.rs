//! Turning stream entries into messages, and counting the ones that are not.

use std::collections::HashMap;
use std::sync::Arc;

use herald_protocol::RoomName;
use herald_protocol::bus::{BusFrame, decode_bus};
use redis::Value;

use super::scripts::{bytes_of, str_of};
use crate::Message;

/// Counts and logs an entry that cannot be used; the stream goes on.
pub fn invalid(stream: &str, id: &str, why: &str) {
    metrics::counter!(crate::metrics::INVALID_FRAMES).increment(1);
    tracing::warn!(stream, id, why, "skipping an invalid bus entry");
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
) -> Result<Message, String> {
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
        Ok(BusFrame::Publish(_)) => Err("frame room differs from field r".into()),
        Ok(_) => Err("not a publication frame".into()),
        Err(e) => Err(e.to_string()),
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
