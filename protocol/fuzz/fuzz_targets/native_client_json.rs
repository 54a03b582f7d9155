//! Fuzz target: native `decode_client` on JSON text frames.
//!
//! Properties: never a panic; a decoded frame survives a re-encode in both
//! formats (floats within `FLOAT_ULPS`, see `src/lib.rs`); an error carries the frame's `id` only when the bytes hold one.

#![no_main]

use herald_protocol::native::{Format, decode_client, encode_client};
use herald_protocol_fuzz::same;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode_client(data, Format::Json) {
        Ok(frame) => {
            for format in [Format::Json, Format::MsgPack] {
                let again = encode_client(&frame, format);
                match decode_client(&again, format) {
                    Ok(back) => assert!(same(&back, &frame), "{back:?} != {frame:?}"),
                    Err((e, _)) => panic!("{frame:?} re-encoded fails: {e}"),
                }
            }
        }
        Err((_, Some(id))) => {
            let text = std::str::from_utf8(data).expect("JSON that parsed is UTF-8");
            assert!(text.contains(&id.to_string()), "{text:?} has no id {id}");
        }
        Err((_, None)) => {}
    }
});
