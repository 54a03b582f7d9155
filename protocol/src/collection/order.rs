//! The order of a live collection's documents: by the sort field, then by
//! key, so every client and the publisher agree on the first `limit`.
//!
//! Values compare as MongoDB compares their types after Herald's BSON to
//! JSON mapping: a missing field or `null` first, then numbers, strings
//! (dates are RFC 3339 text, so they sort in time order), objects, arrays
//! and booleans.

use std::cmp::Ordering;

use serde_json::Value;

use super::SetSpec;
use super::path::get_dotted;

fn rank(v: Option<&Value>) -> u8 {
    match v {
        None | Some(Value::Null) => 0,
        Some(Value::Number(_)) => 1,
        Some(Value::String(_)) => 2,
        Some(Value::Object(_)) => 3,
        Some(Value::Array(_)) => 4,
        Some(Value::Bool(_)) => 5,
    }
}

/// Compares two field values (absent is `None`), ascending.
pub fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x @ (Value::Object(_) | Value::Array(_))), Some(y))
            if rank(Some(x)) == rank(Some(y)) =>
        {
            x.to_string().cmp(&y.to_string())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Where `a` (with key text `ka`) goes against `b` in the set's order:
/// `Less` means earlier, inside the limit before `b`.
pub fn cmp_members(spec: &SetSpec, a: &Value, ka: &str, b: &Value, kb: &str) -> Ordering {
    let by_sort = spec.sort.as_deref().map_or(Ordering::Equal, |field| {
        let o = cmp_values(get_dotted(a, field), get_dotted(b, field));
        if spec.descending { o.reverse() } else { o }
    });
    by_sort.then_with(|| ka.cmp(kb))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn types_order_as_mongodb_orders_them_and_ties_go_by_key() {
        let vals = [
            json!(null),
            json!(-1.5),
            json!(3),
            json!("2026-01-01T00:00:00.000Z"),
            json!("b"),
            json!({}),
            json!([]),
            json!(false),
        ];
        for w in vals.windows(2) {
            assert_eq!(
                cmp_values(Some(&w[0]), Some(&w[1])),
                Ordering::Less,
                "{w:?}"
            );
        }
        assert_eq!(cmp_values(None, Some(&json!(null))), Ordering::Equal);
        let spec = SetSpec {
            key: "_id".into(),
            sort: Some("t".into()),
            descending: true,
            limit: Some(2),
        };
        let (a, b) = (json!({"t": 2}), json!({"t": 1}));
        assert_eq!(
            cmp_members(&spec, &a, "1", &b, "2"),
            Ordering::Less,
            "descending: larger first"
        );
        assert_eq!(
            cmp_members(&spec, &a, "2", &a, "1"),
            Ordering::Greater,
            "tie: by key"
        );
    }
}
