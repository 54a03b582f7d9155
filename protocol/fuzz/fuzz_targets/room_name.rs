//! Fuzz target: room-name validation, which every decoder applies to client
//! input.
//!
//! Properties: never a panic; `validate`, `RoomName::new` and deserializing
//! a JSON string agree; an accepted name keeps its text and obeys the rules.

#![no_main]

use herald_protocol::RoomName;
use herald_protocol::room::{MAX_ROOM_BYTES, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let room = RoomName::new(s);
    assert_eq!(validate(s), room.as_ref().map(|_| ()).map_err(Clone::clone));
    let json = serde_json::to_string(s).expect("a string always serializes");
    let parsed: Result<RoomName, _> = serde_json::from_str(&json);
    assert_eq!(parsed.is_ok(), room.is_ok(), "{json}");
    match room {
        Ok(room) => {
            assert_eq!(room.as_str(), s);
            assert!(!s.is_empty() && s.len() <= MAX_ROOM_BYTES);
            assert!(
                !s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "{}".contains(c))
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
