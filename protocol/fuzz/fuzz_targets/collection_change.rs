//! Fuzz target: live-collection payloads (`collection::Change::decode`,
//! `Snapshot::decode`, `SetSpec::decode`) and applying a decoded change to
//! a client's set (`LiveSet::apply`), the code every client runs on what a
//! publisher wrote.
//!
//! Input layout: the first byte chooses what the rest is: even, a change
//! applied to a small set; odd, a snapshot, then a stored spec.
//!
//! Properties: never a panic, never an unbounded allocation (patch indexes
//! are capped by `path::MAX_INDEX`); an accepted change re-encodes to a
//! text that decodes to the same change; a refused apply leaves the set as
//! it was.

#![no_main]

use herald_protocol::collection::{Change, LiveSet, SetSpec, Snapshot};
use herald_protocol_fuzz::same;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        let Ok(change) = Change::decode(rest) else {
            return;
        };
        let again = Change::decode(change.to_json().as_bytes()).expect("a re-encoded change decodes");
        assert!(same(&again, &change), "{again:?} != {change:?}");
        let mut set = LiveSet::new(SetSpec::by_id());
        set.docs.insert("\"a\"".into(), json!({"_id": "a", "items": [1, 2, 3], "n": {"x": 1}}));
        set.docs.insert("1".into(), json!({"_id": 1, "tags": []}));
        let before = set.clone();
        if set.apply(&change).is_err() {
            assert_eq!(set, before, "a refused change changes nothing");
        }
        let _ = set.sorted();
    } else {
        if let Ok(s) = Snapshot::decode(rest) {
            let set = LiveSet::from_snapshot(&s);
            assert!(set.docs.len() <= s.docs.len());
            let _ = set.sorted();
        }
        if let Ok(spec) = SetSpec::decode(rest) {
            assert_eq!(SetSpec::decode(spec.to_text().as_bytes()), Ok(spec));
        }
    }
});
