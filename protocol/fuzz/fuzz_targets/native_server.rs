//! Fuzz target: native `decode_server` in both formats (what the load
//! generator and clients read).
//!
//! Properties: never a panic; a decoded frame survives a re-encode in both
//! formats.

#![no_main]

use herald_protocol::native::{Format, decode_server, encode_server};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for read in [Format::Json, Format::MsgPack] {
        if let Ok(frame) = decode_server(data, read) {
            for write in [Format::Json, Format::MsgPack] {
                let again = encode_server(&frame, write);
                assert_eq!(decode_server(&again, write).as_ref(), Ok(&frame));
            }
        }
    }
});
