//! Fuzz target: room patterns (`lobby`, `news:*`), which token claims and
//! `--public-rooms` carry.
//!
//! Properties: never a panic; an accepted pattern displays as its input
//! and parses back equal; a `*` survives only as a trailing `:*`; an exact
//! pattern matches its own room, a prefix pattern a room one character
//! under it and never the bare prefix; a set parsed from the input's lines
//! is bounded and agrees with parsing each line alone.

#![no_main]

use herald_protocol::room_pattern::{MAX_PATTERN_BYTES, MAX_PATTERNS};
use herald_protocol::{RoomName, RoomPattern, RoomPatterns};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    check_one(s);
    let lines: Vec<&str> = s.split('\n').collect();
    let set = RoomPatterns::parse(&lines);
    let each_ok = lines.iter().all(|l| RoomPattern::parse(l).is_ok());
    match set {
        Ok(set) => {
            assert!(each_ok && lines.len() <= MAX_PATTERNS);
            assert_eq!(set.patterns().len(), lines.len());
            for (line, p) in lines.iter().zip(set.patterns()) {
                if let Ok(room) = RoomName::new(line)
                    && p.matches(&room)
                {
                    assert!(set.allows(&room));
                }
            }
        }
        Err(e) => {
            assert!(!each_ok || lines.len() > MAX_PATTERNS, "{e}");
        }
    }
});

fn check_one(s: &str) {
    let pattern = match RoomPattern::parse(s) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let shown = pattern.to_string();
    assert_eq!(shown, s);
    assert_eq!(RoomPattern::parse(&shown).as_ref(), Ok(&pattern));
    assert!(!s.is_empty() && s.len() <= MAX_PATTERN_BYTES);
    let star = s.find('*');
    match &pattern {
        RoomPattern::Exact(room) => {
            assert_eq!(star, None);
            assert_eq!(room.as_str(), s);
            assert!(pattern.matches(room));
        }
        RoomPattern::Prefix(prefix) => {
            assert_eq!(star, Some(s.len() - 1));
            assert!(s.ends_with(":*"));
            assert_eq!(&**prefix, &s[..s.len() - 1]);
            if let Ok(bare) = RoomName::new(prefix) {
                assert!(!pattern.matches(&bare));
            }
            if let Ok(under) = RoomName::new(&format!("{prefix}x")) {
                assert!(pattern.matches(&under));
            }
        }
    }
}
