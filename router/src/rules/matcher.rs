//! A small MongoDB query matcher over change events, for the operators the
//! rules file accepts ([`OPERATORS`]). The server applies the same filter as
//! a `$match`; the router re-applies it to learn which rules an event is for.

use std::cmp::Ordering;

use mongodb::bson::{Bson, Document, RawBsonRef, RawDocument};

/// Field operators a rule filter may use.
pub const OPERATORS: &[&str] = &[
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists",
];

/// Logical operators a rule filter may use at document level.
pub const LOGICAL: &[&str] = &["$and", "$or", "$nor"];

/// The value at a dotted path of an event, read in place from its raw
/// bytes (through documents and array indexes).
pub fn lookup<'a>(doc: &'a RawDocument, path: &str) -> Option<RawBsonRef<'a>> {
    let mut parts = path.split('.');
    let mut cur = doc.get(parts.next()?).ok()??;
    for p in parts {
        cur = match cur {
            RawBsonRef::Document(d) => d.get(p).ok()??,
            RawBsonRef::Array(a) => a.get(p.parse::<usize>().ok()?).ok()??,
            _ => return None,
        };
    }
    Some(cur)
}

/// The value at a dotted path, as a value of its own (only that value is
/// copied out of the event).
pub fn lookup_owned(doc: &RawDocument, path: &str) -> Option<Bson> {
    lookup(doc, path).and_then(|v| Bson::try_from(v).ok())
}

/// Whether `doc` matches `filter`.
pub fn matches(doc: &RawDocument, filter: &Document) -> bool {
    filter.iter().all(|(k, v)| match k.as_str() {
        "$and" => each(v).all(|f| matches(doc, f)),
        "$or" => each(v).any(|f| matches(doc, f)),
        "$nor" => !each(v).any(|f| matches(doc, f)),
        path => field_matches(lookup_owned(doc, path).as_ref(), v),
    })
}

fn each(v: &Bson) -> impl Iterator<Item = &Document> {
    let items: &[Bson] = match v {
        Bson::Array(a) => a,
        _ => &[],
    };
    items.iter().filter_map(Bson::as_document)
}

fn is_operator_doc(d: &Document) -> bool {
    d.keys().next().is_some_and(|k| k.starts_with('$'))
}

fn field_matches(value: Option<&Bson>, cond: &Bson) -> bool {
    match cond {
        Bson::Document(d) if is_operator_doc(d) => {
            d.iter().all(|(op, arg)| op_matches(value, op, arg))
        }
        _ => eq(value, cond),
    }
}

fn op_matches(value: Option<&Bson>, op: &str, arg: &Bson) -> bool {
    match op {
        "$eq" => eq(value, arg),
        "$ne" => !eq(value, arg),
        "$gt" => ord(value, arg).is_some_and(|o| o == Ordering::Greater),
        "$gte" => ord(value, arg).is_some_and(|o| o != Ordering::Less),
        "$lt" => ord(value, arg).is_some_and(|o| o == Ordering::Less),
        "$lte" => ord(value, arg).is_some_and(|o| o != Ordering::Greater),
        "$in" => matches!(arg, Bson::Array(a) if a.iter().any(|x| eq(value, x))),
        "$nin" => !matches!(arg, Bson::Array(a) if a.iter().any(|x| eq(value, x))),
        "$exists" => value.is_some() == truthy(arg),
        _ => false,
    }
}

fn truthy(b: &Bson) -> bool {
    match b {
        Bson::Boolean(b) => *b,
        Bson::Null => false,
        other => number(other).is_none_or(|n| n != 0.0),
    }
}

fn number(b: &Bson) -> Option<f64> {
    match b {
        Bson::Int32(i) => Some(f64::from(*i)),
        #[allow(clippy::cast_precision_loss)]
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(f) => Some(*f),
        _ => None,
    }
}

fn scalar_eq(a: &Bson, b: &Bson) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn eq(value: Option<&Bson>, want: &Bson) -> bool {
    match value {
        None => matches!(want, Bson::Null),
        Some(Bson::Array(items)) if !matches!(want, Bson::Array(_)) => {
            items.iter().any(|x| scalar_eq(x, want))
        }
        Some(v) => scalar_eq(v, want),
    }
}

fn ord(value: Option<&Bson>, arg: &Bson) -> Option<Ordering> {
    let v = value?;
    match (number(v), number(arg)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => match (v, arg) {
            (Bson::String(x), Bson::String(y)) => Some(x.cmp(y)),
            (Bson::DateTime(x), Bson::DateTime(y)) => Some(x.cmp(y)),
            (Bson::ObjectId(x), Bson::ObjectId(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mongodb::bson::{RawDocumentBuf, doc};

    use super::*;

    fn matches(ev: &Document, filter: &Document) -> bool {
        super::matches(&RawDocumentBuf::from_document(ev).unwrap(), filter)
    }

    #[test]
    fn lookup_walks_documents_and_array_indexes_in_place() {
        let ev = RawDocumentBuf::from_document(&doc! {"a": {"b": [{"c": 7_i32}]}}).unwrap();
        assert_eq!(lookup_owned(&ev, "a.b.0.c"), Some(Bson::Int32(7)));
        assert_eq!(lookup_owned(&ev, "a.b.1.c"), None);
        assert_eq!(lookup_owned(&ev, "a.x"), None);
        assert_eq!(lookup_owned(&ev, "a.b.c"), None);
    }

    #[test]
    fn operators_and_logic() {
        let ev = doc! { "fullDocument": { "status": "paid", "n": 5_i32, "tags": ["a", "b"] } };
        assert!(matches(&ev, &doc! {"fullDocument.status": "paid"}));
        assert!(!matches(&ev, &doc! {"fullDocument.status": "new"}));
        assert!(matches(
            &ev,
            &doc! {"fullDocument.n": {"$gt": 4_i64, "$lte": 5.0}}
        ));
        assert!(!matches(&ev, &doc! {"fullDocument.n": {"$lt": 5_i32}}));
        assert!(matches(
            &ev,
            &doc! {"fullDocument.status": {"$in": ["x", "paid"]}}
        ));
        assert!(matches(&ev, &doc! {"fullDocument.status": {"$nin": ["x"]}}));
        assert!(matches(&ev, &doc! {"fullDocument.tags": "b"}));
        assert!(matches(
            &ev,
            &doc! {"fullDocument.gone": {"$exists": false}}
        ));
        assert!(matches(
            &ev,
            &doc! {"$or": [{"fullDocument.n": 1_i32}, {"fullDocument.n": 5_i32}]}
        ));
        assert!(!matches(&ev, &doc! {"$nor": [{"fullDocument.n": 5_i32}]}));
        assert!(matches(&ev, &doc! {"fullDocument.status": {"$ne": "new"}}));
    }
}
