//! Fuzz target: `sio::query::parse_query`, the query string of every
//! Engine.IO request.
//!
//! Properties: never a panic; every value found is the value of a
//! `key=value` (or bare `key`) pair of the input, and of the last such
//! pair for its key.

#![no_main]

use herald_protocol::sio::query::parse_query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let found = parse_query(q);
    for (key, value) in [
        ("EIO", found.eio),
        ("transport", found.transport),
        ("sid", found.sid),
    ] {
        let last = q
            .split('&')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .next_back();
        assert_eq!(value, last, "{key} in {q:?}");
    }
});
