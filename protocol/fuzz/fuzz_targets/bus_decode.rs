//! Fuzz target: `bus::decode_bus` on bytes read from the bus.
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::bus::decode_bus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_bus(data);
});
