//! Fuzz target: native `decode_server` in both formats (what the load
//! generator and clients read).
//!
//! Properties: never a panic; a decoded frame survives a re-encode in both
//! formats (floats within `FLOAT_ULPS`, see `src/lib.rs`).

#![no_main]

use herald_protocol::native::{Format, decode_server, encode_server};
use herald_protocol_fuzz::same;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for read in [Format::Json, Format::MsgPack] {
        if let Ok(frame) = decode_server(data, read) {
            for write in [Format::Json, Format::MsgPack] {
                let again = encode_server(&frame, write);
                match decode_server(&again, write) {
                    Ok(back) => assert!(same(&back, &frame), "{back:?} != {frame:?}"),
                    Err(e) => panic!("{frame:?} re-encoded fails: {e}"),
                }
            }
        }
    }
});
