//! Fuzz target: native `decode_client` on MessagePack binary frames.
//!
//! Properties: never a panic; a decoded frame survives a re-encode in both
//! formats (floats within `FLOAT_ULPS`, see `src/lib.rs`).

#![no_main]

use herald_protocol::native::{Format, decode_client, encode_client};
use herald_protocol_fuzz::same;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_client(data, Format::MsgPack) {
        for format in [Format::Json, Format::MsgPack] {
            let again = encode_client(&frame, format);
            match decode_client(&again, format) {
                Ok(back) => assert!(same(&back, &frame), "{back:?} != {frame:?}"),
                Err((e, _)) => panic!("{frame:?} re-encoded fails: {e}"),
            }
        }
    }
});
