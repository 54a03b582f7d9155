//! Fuzz target: Room-name validation, which every decoder applies to client input.
//!
//! Must never panic on any input.

#![no_main]

use herald_protocol::RoomName;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(room) = RoomName::new(s)
    {
        assert_eq!(room.as_str(), s);
    }
});
