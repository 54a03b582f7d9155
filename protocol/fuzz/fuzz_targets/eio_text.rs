//! Fuzz target: Engine.IO WebSocket text frames; a decoded packet must survive a re-encode.
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::sio::{decode_eio_text, encode_eio_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(packet) = decode_eio_text(text) {
        let again = encode_eio_text(&packet).expect("a text frame decodes to a text packet");
        assert_eq!(decode_eio_text(&again).as_ref(), Ok(&packet), "{again:?}");
    }
});
