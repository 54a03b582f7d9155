//! Fuzz target: Native `decode_server` in both formats (what the load generator reads).
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::native::{Format, decode_server};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_server(data, Format::Json);
    let _ = decode_server(data, Format::MsgPack);
});
