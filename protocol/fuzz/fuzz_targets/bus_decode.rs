//! Fuzz target: `bus::decode_bus` on raw bytes read from the bus.
//!
//! Properties: never a panic; a decoded frame survives a re-encode.
//! `bus_frame_kinds` reaches deeper into each frame kind.

#![no_main]

use herald_protocol::bus::{decode_bus, encode_bus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_bus(data) {
        assert_eq!(decode_bus(&encode_bus(&frame)).as_ref(), Ok(&frame));
    }
});
