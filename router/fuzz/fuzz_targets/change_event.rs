//! Fuzz target: arbitrary bytes read as a raw BSON change event, as the
//! driver hands it to the router (only its length prefix checked), routed
//! through every rule of a scope (filters, room templates, every payload
//! kind, BSON to JSON text), and its resume token read as the stream reader
//! does.
//!
//! Must never panic on any input; every payload made is one JSON value and
//! agrees with the reference tree mapping when the bytes are a valid
//! document.

#![no_main]

use std::sync::OnceLock;

use herald_router::as_json::document_text;
use herald_router::convert::document_to_json;
use herald_router::publish::{Origin, event_time_ms, route, route_rule};
use herald_router::rules::{Scope, parse_rules};
use herald_router::stream::token::{event_token_hex, token_cluster_time, token_from_hex};
use libfuzzer_sys::fuzz_target;
use mongodb::bson::{Document, RawDocument};

/// Rules touching every filter operator, template value kind and payload kind.
const RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"
full_document = "updateLookup"
full_document_before_change = "whenAvailable"

[[rule]]
name = "full"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update", "replace", "delete"]
filter = { "fullDocument.status" = { "$in" = ["paid", "shipped"] }, "fullDocument.total" = { "$gte" = 10, "$lt" = 1e9 } }
rooms = ["room:{fullDocument.room}", "orders:all", "c:{fullDocument.customer.id}:{documentKey._id}"]
event = "order:full"
payload = "full_document"

[[rule]]
name = "upd"
scope = "shop"
ns = "shop.orders"
ops = ["update"]
filter = { "$or" = [ { "fullDocument.a" = { "$exists" = true } }, { "fullDocument.b" = { "$nin" = [1, 2] } } ], "$nor" = [ { "fullDocument.c" = { "$ne" = "x" } } ] }
rooms = ["upd:{fullDocument.room}"]
event = "order:update"
payload = "update_description"

[[rule]]
name = "ev"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update", "replace", "delete"]
filter = { "$and" = [ { "documentKey._id" = { "$exists" = true } }, { "fullDocument.n" = { "$gt" = -5, "$lte" = 5, "$eq" = 3 } } ] }
rooms = ["ev:{documentKey._id}"]
event = "order:event"
payload = "event"

[[rule]]
name = "proj"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "replace"]
rooms = ["p:{fullDocument.room}"]
event = "order:proj"
payload = { project = ["total", "customer.name", "a.b.c"] }
"#;

fn scope() -> &'static Scope {
    static SCOPE: OnceLock<Scope> = OnceLock::new();
    SCOPE.get_or_init(|| {
        let mut rules = parse_rules(RULES).expect("the fuzz rules are valid");
        rules.scopes.remove(0)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = RawDocument::from_bytes(data) else {
        return;
    };
    let scope = scope();
    let hex = event_token_hex(event);
    if let Some(hex) = hex {
        let _ = token_cluster_time(hex);
        let _ = token_from_hex(hex);
    }
    let origin = Origin {
        scope: &scope.name,
        src_pos: hex.or(Some("8200000001")),
        src_ts_ms: event_time_ms(event),
        fence: 1,
    };
    let mut out = route(scope, event, origin);
    // Every rule directly too, so inputs that miss `ns`/`operationType` still
    // reach the filters, templates and payloads.
    for rule in &scope.rules {
        route_rule(rule, event, origin, &mut out);
    }
    for p in &out {
        assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(p.data.as_bytes()).is_ok(),
            "a payload that is not JSON: {:?}",
            p.data
        );
    }
    let text = document_text(event);
    if let Ok(doc) = Document::from_reader(data) {
        match (text, document_to_json(&doc)) {
            (Ok(text), Ok(tree)) => assert_eq!(text, tree, "text and tree mappings differ"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("text {a:?} against tree {b:?}"),
        }
    }
});
