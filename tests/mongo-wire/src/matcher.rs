//! Query filters: equality on dotted paths, `$eq $ne $gt $gte $lt $lte $in $nin
//! $exists $not`, and `$and $or $nor`. Also dotted-path lookup for sorting.

use crate::compare::{cmp, eq, type_rank};
use crate::error::CommandError;
use mongodb::bson::{Bson, Document};
use std::cmp::Ordering;

/// Whether `doc` matches `filter`.
///
/// # Errors
/// `BadValue` for unknown or malformed operators.
pub fn matches(doc: &Document, filter: &Document) -> Result<bool, CommandError> {
    for (key, cond) in filter {
        let ok = match key.as_str() {
            "$and" => clauses(cond)?.iter().try_fold(true, |acc, c| {
                Ok::<_, CommandError>(acc && matches(doc, c)?)
            })?,
            "$or" => clauses(cond)?.iter().try_fold(false, |acc, c| {
                Ok::<_, CommandError>(acc || matches(doc, c)?)
            })?,
            "$nor" => !clauses(cond)?.iter().try_fold(false, |acc, c| {
                Ok::<_, CommandError>(acc || matches(doc, c)?)
            })?,
            "$comment" => true,
            k if k.starts_with('$') => {
                return Err(CommandError::bad_value(format!(
                    "unknown top level operator: {k}"
                )));
            }
            path => field_matches(&resolve(doc, path), cond)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn clauses(v: &Bson) -> Result<Vec<&Document>, CommandError> {
    let Bson::Array(items) = v else {
        return Err(CommandError::bad_value("$and/$or/$nor must be an array"));
    };
    items
        .iter()
        .map(|i| match i {
            Bson::Document(d) => Ok(d),
            _ => Err(CommandError::bad_value(
                "$and/$or/$nor entries must be objects",
            )),
        })
        .collect()
}

/// Values at a dotted path; arrays on the way fan out, and an array at the leaf
/// contributes itself and its elements. Empty when the path is missing.
pub fn resolve<'a>(doc: &'a Document, path: &str) -> Vec<&'a Bson> {
    let mut out = Vec::new();
    let parts: Vec<&str> = path.split('.').collect();
    walk_doc(doc, &parts, &mut out);
    out
}

fn walk_doc<'a>(doc: &'a Document, parts: &[&str], out: &mut Vec<&'a Bson>) {
    if let Some((first, rest)) = parts.split_first() {
        if let Some(v) = doc.get(*first) {
            walk_value(v, rest, out);
        }
    }
}

fn walk_value<'a>(v: &'a Bson, rest: &[&str], out: &mut Vec<&'a Bson>) {
    if rest.is_empty() {
        out.push(v);
        if let Bson::Array(items) = v {
            out.extend(items.iter());
        }
        return;
    }
    match v {
        Bson::Document(d) => walk_doc(d, rest, out),
        Bson::Array(items) => {
            if let Ok(i) = rest[0].parse::<usize>() {
                if let Some(item) = items.get(i) {
                    walk_value(item, &rest[1..], out);
                }
            } else {
                for item in items {
                    if let Bson::Document(d) = item {
                        walk_doc(d, rest, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The first value at a dotted path (for sorting), `Null` when missing.
pub fn first_value(doc: &Document, path: &str) -> Bson {
    resolve(doc, path)
        .first()
        .map_or(Bson::Null, |v| (*v).clone())
}

fn is_operator_doc(cond: &Bson) -> Option<&Document> {
    match cond {
        Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => Some(d),
        _ => None,
    }
}

fn field_matches(values: &[&Bson], cond: &Bson) -> Result<bool, CommandError> {
    let Some(ops) = is_operator_doc(cond) else {
        return Ok(equals(values, cond));
    };
    for (op, arg) in ops {
        let ok = match op.as_str() {
            "$eq" => equals(values, arg),
            "$ne" => !equals(values, arg),
            "$gt" => ordered(values, arg, |o| o == Ordering::Greater),
            "$gte" => ordered(values, arg, |o| o != Ordering::Less),
            "$lt" => ordered(values, arg, |o| o == Ordering::Less),
            "$lte" => ordered(values, arg, |o| o != Ordering::Greater),
            "$in" => in_list(values, arg)?,
            "$nin" => !in_list(values, arg)?,
            "$exists" => values.is_empty() != truthy(arg),
            "$not" => !field_matches(values, arg)?,
            other => {
                return Err(CommandError::bad_value(format!(
                    "unknown operator: {other}"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn equals(values: &[&Bson], target: &Bson) -> bool {
    if values.is_empty() {
        return matches!(target, Bson::Null);
    }
    values.iter().any(|v| eq(v, target))
}

fn ordered(values: &[&Bson], target: &Bson, pred: impl Fn(Ordering) -> bool) -> bool {
    values
        .iter()
        .any(|v| type_rank(v) == type_rank(target) && pred(cmp(v, target)))
}

fn in_list(values: &[&Bson], arg: &Bson) -> Result<bool, CommandError> {
    let Bson::Array(items) = arg else {
        return Err(CommandError::bad_value("$in/$nin needs an array"));
    };
    Ok(items.iter().any(|t| equals(values, t)))
}

/// MongoDB truthiness for flags like `$exists` and projection values.
pub fn truthy(v: &Bson) -> bool {
    match v {
        Bson::Boolean(b) => *b,
        Bson::Int32(i) => *i != 0,
        Bson::Int64(i) => *i != 0,
        Bson::Double(d) => *d != 0.0,
        Bson::Null | Bson::Undefined => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn m(d: Document, f: Document) -> bool {
        matches(&d, &f).expect("valid filter")
    }

    #[test]
    fn operators() {
        let d = doc! {"a": 5, "ns": {"coll": "x"}, "tags": ["p", "q"], "op": "insert"};
        assert!(m(d.clone(), doc! {"ns.coll": "x"}));
        assert!(!m(d.clone(), doc! {"ns.coll": "y"}));
        assert!(m(d.clone(), doc! {"op": {"$in": ["insert", "update"]}}));
        assert!(!m(d.clone(), doc! {"op": {"$nin": ["insert"]}}));
        assert!(m(d.clone(), doc! {"a": {"$gt": 4, "$lte": 5.0}}));
        assert!(!m(d.clone(), doc! {"a": {"$lt": 5}}));
        assert!(!m(d.clone(), doc! {"a": {"$gt": "4"}}));
        assert!(m(d.clone(), doc! {"tags": "q"}));
        assert!(m(
            d.clone(),
            doc! {"zz": {"$exists": false}, "a": {"$exists": true}}
        ));
        assert!(m(d.clone(), doc! {"zz": null}));
        assert!(m(d.clone(), doc! {"$or": [{"a": 1}, {"a": 5}]}));
        assert!(!m(d.clone(), doc! {"$and": [{"a": 5}, {"op": "delete"}]}));
        assert!(m(d.clone(), doc! {"a": {"$not": {"$gt": 9}}}));
        assert!(matches(&d, &doc! {"a": {"$bogus": 1}}).is_err());
        assert!(matches(&d, &doc! {"$where": "1"}).is_err());
    }
}
