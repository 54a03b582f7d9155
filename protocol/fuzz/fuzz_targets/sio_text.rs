//! Fuzz target: Socket.IO `decode_text`.
//!
//! Properties: never a panic; a decoded packet validates, survives a
//! re-encode, and its accessors (`event_name`, `args`, `recovery`, which the
//! gateway reads client input through) agree with its data.

#![no_main]

use herald_protocol::sio::{MAX_ATTACHMENTS, SioDecoded, SioKind, decode_text, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (packet, count) = match decode_text(text) {
        Ok(SioDecoded::Packet(p)) => (p, 0),
        Ok(SioDecoded::NeedsAttachments { packet, count }) => (packet, count),
        Err(_) => return,
    };
    assert!(count <= MAX_ATTACHMENTS);
    if packet.event_name().is_some() {
        assert_eq!(packet.kind, SioKind::Event);
        let items = packet.data.as_ref().and_then(|d| d.as_array());
        assert_eq!(Some(packet.args().len() + 1), items.map(Vec::len));
    }
    if let Some(recovery) = packet.recovery() {
        assert_eq!(packet.kind, SioKind::Connect);
        let map = packet.data.as_ref().and_then(|d| d.as_object());
        assert_eq!(
            map.and_then(|m| m.get("pid")).and_then(|v| v.as_str()),
            Some(recovery.pid.as_str())
        );
        assert_eq!(
            map.and_then(|m| m.get("offset")).and_then(|v| v.as_str()),
            Some(recovery.offset.as_str())
        );
    }
    assert!(!packet.kind.is_binary());
    let mut full = packet.clone();
    full.attachments = vec![bytes::Bytes::new(); count];
    assert_eq!(full.validate(), Ok(()), "{text:?}");
    let (again, bins) = encode(&full);
    assert_eq!(bins.len(), count);
    let (p2, c2) = match decode_text(&again) {
        Ok(SioDecoded::Packet(p)) => (p, 0),
        Ok(SioDecoded::NeedsAttachments { packet, count }) => (packet, count),
        Err(e) => panic!("{text:?} re-encoded as {again:?} fails: {e}"),
    };
    assert_eq!(
        (p2.kind, &p2.nsp, p2.id, c2),
        (packet.kind, &packet.nsp, packet.id, count)
    );
});
