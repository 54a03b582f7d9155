//! Fuzz target: Native `decode_client` on JSON text frames.
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::native::{Format, decode_client};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_client(data, Format::Json);
});
