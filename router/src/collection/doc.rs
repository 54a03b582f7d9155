//! Documents of a live collection as JSON: projection, and the rule filter
//! applied to them.
//!
//! The router judges membership on the JSON form it stores and sends (after
//! the BSON → JSON mapping), whether the document came from an event, from a
//! query or from a cached member with a patch applied, so the verdict never
//! depends on where the document came from.

use herald_protocol::collection::path;
use mongodb::bson::{Bson, Document, RawDocumentBuf};
use serde_json::{Map, Value};

use crate::rules::matcher;

/// `doc` restricted to `paths` (dotted), each kept at its place; `None`
/// keeps the whole document.
pub fn project(doc: Value, paths: Option<&[String]>) -> Value {
    let Some(paths) = paths else { return doc };
    let mut out = Value::Object(Map::new());
    for p in paths {
        let parts = path::split(p);
        if let Some(v) = path::get(&doc, &parts) {
            let _ = path::set(&mut out, &parts, v.clone());
        }
    }
    out
}

/// A JSON value as BSON, for the matcher: integers as int64, other numbers
/// as doubles.
pub fn json_to_bson(v: &Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Bson::Double(n.as_f64().unwrap_or(0.0)), Bson::Int64),
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(a) => Bson::Array(a.iter().map(json_to_bson).collect()),
        Value::Object(m) => Bson::Document(
            m.iter()
                .map(|(k, v)| (k.clone(), json_to_bson(v)))
                .collect::<Document>(),
        ),
    }
}

/// Whether the JSON document matches the rule filter (an empty filter
/// matches everything).
pub fn matches(doc: &Value, filter: &Document) -> bool {
    if filter.is_empty() {
        return true;
    }
    let Bson::Document(d) = json_to_bson(doc) else {
        return false;
    };
    RawDocumentBuf::from_document(&d).is_ok_and(|raw| matcher::matches(&raw, filter))
}

/// The projection document for a `find`: each path once, none inside
/// another (MongoDB refuses path collisions).
pub fn find_projection(paths: &[String]) -> Document {
    let mut out = Document::new();
    for p in paths {
        let covered = paths.iter().any(|q| {
            q != p && p.starts_with(q.as_str()) && p.as_bytes().get(q.len()) == Some(&b'.')
        });
        if !covered && !out.contains_key(p) {
            out.insert(p.clone(), 1_i32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;
    use serde_json::json;

    use super::*;

    #[test]
    fn projection_keeps_paths_in_place() {
        let d = json!({"_id": 1, "a": {"b": 2, "c": 3}, "x": 9});
        let paths = vec!["_id".to_owned(), "a.b".to_owned(), "nope".to_owned()];
        assert_eq!(
            project(d.clone(), Some(&paths)),
            json!({"_id": 1, "a": {"b": 2}})
        );
        assert_eq!(project(d.clone(), None), d);
        assert_eq!(
            find_projection(&["a".into(), "a.b".into(), "_id".into()]),
            doc! {"a": 1_i32, "_id": 1_i32}
        );
    }

    #[test]
    fn the_filter_reads_the_json_form() {
        let d = json!({"status": "paid", "n": 3, "tags": ["x"]});
        assert!(matches(
            &d,
            &doc! {"status": {"$in": ["paid"]}, "n": {"$gte": 3_i64}}
        ));
        assert!(matches(&d, &doc! {"tags": "x"}));
        assert!(!matches(&d, &doc! {"status": "new"}));
        assert!(matches(&d, &doc! {}));
    }
}
