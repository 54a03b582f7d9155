//! Fuzz target: native `decode_client` on MessagePack binary frames.
//!
//! Properties: never a panic; a decoded frame survives a re-encode in both
//! formats.

#![no_main]

use herald_protocol::native::{Format, decode_client, encode_client};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_client(data, Format::MsgPack) {
        for format in [Format::Json, Format::MsgPack] {
            let again = encode_client(&frame, format);
            assert_eq!(
                decode_client(&again, format).map_err(|e| e.0).as_ref(),
                Ok(&frame)
            );
        }
    }
});
