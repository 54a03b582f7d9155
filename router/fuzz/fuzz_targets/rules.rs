//! Fuzz target: the router's rules file parser (TOML, filters, room
//! templates, payload kinds) and the change stream pipeline built from it.
//!
//! The file is the operator's, not a peer's, but a bad one must be refused
//! with an error at start, never a panic. Properties: never a panic; a
//! parsed file has a scope, every rule has a room template, and every
//! scope's pipeline and every rule's match clause can be built.

#![no_main]

use herald_router::rules::parse_rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_rules(text) {
        Ok(rules) => {
            assert!(!rules.scopes.is_empty());
            for scope in &rules.scopes {
                let _ = scope.pipeline();
                for rule in &scope.rules {
                    assert!(!rule.rooms.is_empty(), "rule {} has no rooms", rule.name);
                    let _ = rule.match_clause();
                    for room in &rule.rooms {
                        let _ = room.source();
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
