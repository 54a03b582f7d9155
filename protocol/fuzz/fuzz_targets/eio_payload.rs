//! Fuzz target: Engine.IO long-polling payloads; a decoded payload must survive a re-encode.
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::sio::{decode_payload, encode_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max = usize::from(limit) * 16;
    if let Ok(packets) = decode_payload(text, max) {
        assert!(text.len() <= max);
        let again = encode_payload(&packets);
        assert_eq!(
            decode_payload(&again, usize::MAX).as_ref(),
            Ok(&packets),
            "{again:?}"
        );
    }
});
