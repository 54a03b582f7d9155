//! Fuzz target: Socket.IO `decode_text`; a decoded packet must validate and survive a re-encode.
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::sio::{MAX_ATTACHMENTS, SioDecoded, decode_text, encode};
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
