//! Fuzz target: `sio::recovery::parse_offset`, the recovery offset a
//! reconnecting Socket.IO client sends back.
//!
//! Properties: never a panic; a parsed offset has a non-empty epoch with
//! no space and a non-empty room, formats back with `offset_string` to a
//! string that parses the same, and that string is the input whenever the
//! input's number is written the canonical way.

#![no_main]

use herald_protocol::sio::recovery::{offset_string, parse_offset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Some(p) = parse_offset(s) else {
        return;
    };
    assert!(!p.epoch.is_empty() && !p.epoch.contains(' '));
    assert!(!p.room.is_empty());
    let again = offset_string(p.offset, p.epoch, p.room);
    assert_eq!(parse_offset(&again), Some(p.clone()));
    let number = s.split(' ').next().unwrap_or_default();
    if number == p.offset.to_string() {
        assert_eq!(again, s);
    }
});
