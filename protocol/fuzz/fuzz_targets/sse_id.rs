//! Fuzz target: `sse::decode_id`, the stream position id an SSE client
//! sends back (`Last-Event-ID` or `?since=`), and `sse::write_event`.
//!
//! Input layout: the first byte chooses the stream's room count (0 to
//! 255, then capped to `MAX_ENTRIES`), the rest is the id.
//!
//! Properties: never a panic; an accepted id has one entry per room and
//! is canonical, so it re-encodes to exactly the input (the empty id, "no
//! position anywhere", re-encodes to its separators); every encoding fits
//! `MAX_ID_BYTES`; an event written from the same bytes has one data line.

#![no_main]

use herald_protocol::sse::{IdError, MAX_ENTRIES, MAX_ID_BYTES, decode_id, encode_id, write_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, id)) = data.split_first() else {
        return;
    };
    let rooms = usize::from(n).min(MAX_ENTRIES).max(1);
    match decode_id(id, rooms) {
        Ok(entries) => {
            assert_eq!(entries.len(), rooms);
            let mut again = Vec::new();
            encode_id(entries.iter().copied(), &mut again);
            assert!(again.len() <= MAX_ID_BYTES);
            if id.is_empty() {
                assert!(entries.iter().all(Option::is_none));
                assert_eq!(again.len(), rooms - 1);
            } else {
                assert_eq!(again, id, "canonical ids re-encode to themselves");
            }
            assert_eq!(decode_id(&again, rooms), Ok(entries));
        }
        Err(IdError::TooLong(len)) => assert!(len > MAX_ID_BYTES),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let mut event = Vec::new();
    write_event("message", id, &mut event);
    assert!(event.starts_with(b"event: message\ndata: ") && event.ends_with(b"\n\n"));
    let line = &event[b"event: message\ndata: ".len()..event.len() - 2];
    assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
});
