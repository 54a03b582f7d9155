//! Dotted field paths (`customer.name`, `items.1.qty`), as MongoDB writes
//! them in `updateDescription`.
//!
//! A numeric part is an array index when the value it walks into is an
//! array, and an object key otherwise: the rule MongoDB itself applies.
//! A path whose field names contain dots is given as explicit parts
//! (`disambiguatedPaths`), never split.

use serde_json::{Map, Value};

/// The highest array index a write may create: a patch cannot make a
/// client allocate more than this many padding elements.
pub const MAX_INDEX: usize = 100_000;

/// The deepest path a patch may name.
pub const MAX_DEPTH: usize = 100;

/// A path that cannot be written into the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// An empty path or an empty part.
    #[error("empty field path")]
    Empty,
    /// More than [`MAX_DEPTH`] parts.
    #[error("field path deeper than {MAX_DEPTH}")]
    TooDeep,
    /// An array index over [`MAX_INDEX`].
    #[error("array index {0} is over the limit")]
    Index(usize),
    /// A part walks into a value that is neither an object nor an array.
    #[error("field path `{0}` walks into a scalar")]
    Scalar(String),
}

/// Splits a dotted path into its parts.
pub fn split(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

fn check(parts: &[String]) -> Result<(), PathError> {
    if parts.is_empty() || parts.iter().any(String::is_empty) {
        return Err(PathError::Empty);
    }
    if parts.len() > MAX_DEPTH {
        return Err(PathError::TooDeep);
    }
    Ok(())
}

/// The value at `parts`, if there is one.
pub fn get<'a>(doc: &'a Value, parts: &[String]) -> Option<&'a Value> {
    let mut at = doc;
    for p in parts {
        at = match at {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// The value at a dotted path, if there is one.
pub fn get_dotted<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    get(doc, &split(path))
}

/// Writes `value` at `parts`, creating objects on the way and padding
/// arrays with `null`, as `$set` does.
///
/// # Errors
/// [`PathError`] for an empty or too deep path, an index over
/// [`MAX_INDEX`], or a path through a scalar.
pub fn set(doc: &mut Value, parts: &[String], value: Value) -> Result<(), PathError> {
    check(parts)?;
    let (last, walk) = parts.split_last().ok_or(PathError::Empty)?;
    let mut at = doc;
    for p in walk {
        at = step(at, p, true)?.ok_or_else(|| PathError::Scalar(parts.join(".")))?;
    }
    match at {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = index(last, parts)?;
            if i >= a.len() {
                a.resize(i + 1, Value::Null);
            }
            a[i] = value;
        }
        _ => return Err(PathError::Scalar(parts.join("."))),
    }
    Ok(())
}

/// Removes the field at `parts`, as `$unset` does: an object key goes, an
/// array element becomes `null`. A missing path is not an error.
///
/// # Errors
/// [`PathError`] for an empty or too deep path.
pub fn unset(doc: &mut Value, parts: &[String]) -> Result<(), PathError> {
    check(parts)?;
    let (last, walk) = parts.split_last().ok_or(PathError::Empty)?;
    let mut at = doc;
    for p in walk {
        match step(at, p, false) {
            Ok(Some(next)) => at = next,
            _ => return Ok(()),
        }
    }
    match at {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = Value::Null;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Truncates the array at `parts` to `size` elements. A missing path or a
/// value that is not an array is left alone.
///
/// # Errors
/// [`PathError`] for an empty or too deep path.
pub fn truncate(doc: &mut Value, parts: &[String], size: usize) -> Result<(), PathError> {
    check(parts)?;
    let mut at = doc;
    for p in parts {
        match step(at, p, false) {
            Ok(Some(next)) => at = next,
            _ => return Ok(()),
        }
    }
    if let Value::Array(a) = at {
        a.truncate(size);
    }
    Ok(())
}

fn index(part: &str, parts: &[String]) -> Result<usize, PathError> {
    let i = part
        .parse::<usize>()
        .map_err(|_| PathError::Scalar(parts.join(".")))?;
    if i > MAX_INDEX {
        return Err(PathError::Index(i));
    }
    Ok(i)
}

/// One step down `part`; with `create`, a missing object member becomes
/// an empty object (and a missing array element, padding included).
fn step<'a>(
    at: &'a mut Value,
    part: &str,
    create: bool,
) -> Result<Option<&'a mut Value>, PathError> {
    Ok(match at {
        Value::Object(m) => {
            if create {
                let next = m
                    .entry(part.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if next.is_null() {
                    *next = Value::Object(Map::new());
                }
                Some(next)
            } else {
                m.get_mut(part)
            }
        }
        Value::Array(a) => {
            let Ok(i) = part.parse::<usize>() else {
                return Ok(None);
            };
            if i > MAX_INDEX {
                return Err(PathError::Index(i));
            }
            if create && i >= a.len() {
                a.resize(i + 1, Value::Null);
            }
            let next = a.get_mut(i);
            match next {
                Some(v) if create && v.is_null() => {
                    *v = Value::Object(Map::new());
                    Some(v)
                }
                other => other,
            }
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(s: &str) -> Vec<String> {
        split(s)
    }

    #[test]
    fn a_numeric_part_is_an_index_in_an_array_and_a_key_in_an_object() {
        let mut doc = json!({"items": [{"qty": 1}, {"qty": 2}], "byId": {"1": {"qty": 5}}});
        set(&mut doc, &p("items.1.qty"), json!(7)).unwrap();
        set(&mut doc, &p("byId.1.qty"), json!(9)).unwrap();
        assert_eq!(
            doc,
            json!({"items": [{"qty": 1}, {"qty": 7}], "byId": {"1": {"qty": 9}}})
        );
        assert_eq!(get_dotted(&doc, "items.1.qty"), Some(&json!(7)));
        assert_eq!(get_dotted(&doc, "byId.1.qty"), Some(&json!(9)));
    }

    #[test]
    fn writes_create_objects_and_pad_arrays_and_unset_nulls_array_slots() {
        let mut doc = json!({"a": [1]});
        set(&mut doc, &p("x.y"), json!(true)).unwrap();
        set(&mut doc, &p("a.3"), json!(4)).unwrap();
        assert_eq!(doc, json!({"a": [1, null, null, 4], "x": {"y": true}}));
        unset(&mut doc, &p("a.0")).unwrap();
        unset(&mut doc, &p("x.y")).unwrap();
        unset(&mut doc, &p("no.such.path")).unwrap();
        assert_eq!(doc, json!({"a": [null, null, null, 4], "x": {}}));
        truncate(&mut doc, &p("a"), 1).unwrap();
        assert_eq!(doc, json!({"a": [null], "x": {}}));
    }

    #[test]
    fn hostile_paths_are_refused_not_obeyed() {
        let mut doc = json!({"a": [], "s": 1});
        assert_eq!(
            set(&mut doc, &p("a.999999999"), json!(1)),
            Err(PathError::Index(999_999_999))
        );
        assert!(matches!(
            set(&mut doc, &p("s.t"), json!(1)),
            Err(PathError::Scalar(_))
        ));
        assert_eq!(set(&mut doc, &p("a..b"), json!(1)), Err(PathError::Empty));
        let deep = vec!["d".to_owned(); MAX_DEPTH + 1];
        assert_eq!(set(&mut doc, &deep, json!(1)), Err(PathError::TooDeep));
        assert_eq!(doc, json!({"a": [], "s": 1}), "nothing was written");
    }
}
