//! Update documents: `$set`, `$unset`, `$inc`, or a replacement. Produces the
//! change stream `updateDescription` alongside the new document.

use crate::error::CommandError;
use crate::matcher::resolve;
use mongodb::bson::{Bson, Document, doc};

/// What an update does.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateKind {
    /// Operator update (`$set` ...).
    Operators(Document),
    /// Whole-document replacement (keeps `_id`).
    Replacement(Document),
    /// An update pipeline (`$set` / `$addFields`, `$unset` stages).
    Pipeline(Vec<Bson>),
}

impl UpdateKind {
    /// Classifies an update `u` value.
    ///
    /// # Errors
    /// Pipelines and mixed documents are rejected with `BadValue`.
    pub fn parse(u: &Bson) -> Result<Self, CommandError> {
        let d = match u {
            Bson::Document(d) => d,
            Bson::Array(stages) => return Ok(Self::Pipeline(stages.clone())),
            _ => {
                return Err(CommandError::bad_value(
                    "an update must be a document or a pipeline",
                ));
            }
        };
        let ops = d.keys().filter(|k| k.starts_with('$')).count();
        match ops {
            0 => Ok(Self::Replacement(d.clone())),
            n if n == d.len() => Ok(Self::Operators(d.clone())),
            _ => Err(CommandError::bad_value(
                "cannot mix update operators and fields",
            )),
        }
    }
}

/// Result of applying an operator update.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The new document.
    pub doc: Document,
    /// `updatedFields` for the change event.
    pub updated: Document,
    /// `removedFields` for the change event.
    pub removed: Vec<String>,
    /// `disambiguatedPaths` for the change event (`showExpandedEvents`).
    pub disambiguated: Document,
}

impl Applied {
    /// The change event `updateDescription`.
    pub fn description(&self) -> Document {
        doc! {
            "updatedFields": self.updated.clone(),
            "removedFields": self.removed.iter().map(|s| Bson::String(s.clone())).collect::<Vec<_>>(),
            "truncatedArrays": [],
        }
    }
}

/// Applies `$set`, `$unset` and `$inc` to a copy of `doc`.
///
/// # Errors
/// Unsupported operators (`BadValue`), `$inc` on non-numbers (`TypeMismatch`),
/// paths through non-documents (`PathNotViable`) and `_id` changes (`ImmutableField`).
pub fn apply_operators(doc: &Document, ops: &Document) -> Result<Applied, CommandError> {
    let mut out = doc.clone();
    let mut updated = Document::new();
    let mut removed = Vec::new();
    for (op, arg) in ops {
        let Bson::Document(fields) = arg else {
            return Err(CommandError::new(9, format!("{op} needs an object")));
        };
        for (path, value) in fields {
            if path == "_id" || path.starts_with("_id.") {
                let same = resolve(doc, path)
                    .first()
                    .is_some_and(|v| crate::compare::eq(v, value));
                if op != "$set" || !same {
                    return Err(CommandError::new(
                        66,
                        "Performing an update on the path '_id' would modify the immutable field '_id'",
                    ));
                }
                continue;
            }
            match op.as_str() {
                "$set" => {
                    set_path(&mut out, path, value.clone())?;
                    updated.insert(path.clone(), value.clone());
                }
                "$unset" => {
                    if unset_path(&mut out, path) {
                        removed.push(path.clone());
                    }
                }
                "$inc" => {
                    let cur = resolve(&out, path).first().map(|v| (*v).clone());
                    let new = add(cur.as_ref(), value)?;
                    set_path(&mut out, path, new.clone())?;
                    updated.insert(path.clone(), new);
                }
                other => {
                    return Err(CommandError::bad_value(format!(
                        "unsupported update operator: {other}"
                    )));
                }
            }
        }
    }
    let parts: Vec<Vec<crate::delta::Part>> = updated
        .keys()
        .map(|p| crate::delta::parts_in(&out, p))
        .chain(removed.iter().map(|p| crate::delta::parts_in(doc, p)))
        .collect();
    let disambiguated = crate::delta::disambiguated(parts.iter().map(Vec::as_slice));
    Ok(Applied {
        doc: out,
        updated,
        removed,
        disambiguated,
    })
}

/// Builds the replacement document, keeping the existing `_id`.
///
/// # Errors
/// `ImmutableField` if the replacement carries a different `_id`.
pub fn replace(existing_id: &Bson, replacement: &Document) -> Result<Document, CommandError> {
    if let Some(id) = replacement.get("_id") {
        if !crate::compare::eq(id, existing_id) {
            return Err(CommandError::new(
                66,
                "the (immutable) field '_id' was found to have been altered",
            ));
        }
    }
    let mut out = doc! {"_id": existing_id.clone()};
    for (k, v) in replacement {
        if k != "_id" {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

fn add(cur: Option<&Bson>, by: &Bson) -> Result<Bson, CommandError> {
    let mismatch = || CommandError::new(14, "Cannot apply $inc to a value of non-numeric type");
    Ok(match (cur.unwrap_or(&Bson::Int32(0)), by) {
        (Bson::Int32(a), Bson::Int32(b)) => a
            .checked_add(*b)
            .map_or(Bson::Int64(i64::from(*a) + i64::from(*b)), Bson::Int32),
        (Bson::Int32(a), Bson::Int64(b)) => Bson::Int64(i64::from(*a).wrapping_add(*b)),
        (Bson::Int64(a), Bson::Int32(b)) => Bson::Int64(a.wrapping_add(i64::from(*b))),
        (Bson::Int64(a), Bson::Int64(b)) => Bson::Int64(a.wrapping_add(*b)),
        (Bson::Double(a), Bson::Double(b)) => Bson::Double(a + b),
        (Bson::Double(a), Bson::Int32(b)) => Bson::Double(a + f64::from(*b)),
        (Bson::Double(a), Bson::Int64(b)) => Bson::Double(a + *b as f64),
        (Bson::Int32(a), Bson::Double(b)) => Bson::Double(f64::from(*a) + b),
        (Bson::Int64(a), Bson::Double(b)) => Bson::Double(*a as f64 + b),
        _ => return Err(mismatch()),
    })
}

/// Sets a dotted path, creating intermediate documents.
///
/// # Errors
/// `PathNotViable` when the path crosses a non-document value.
pub fn set_path(doc: &mut Document, path: &str, value: Bson) -> Result<(), CommandError> {
    match path.split_once('.') {
        None => {
            doc.insert(path, value);
            Ok(())
        }
        Some((head, rest)) => {
            let entry = doc
                .entry(head.to_owned())
                .or_insert_with(|| Bson::Document(Document::new()));
            match entry {
                Bson::Document(sub) => set_path(sub, rest, value),
                Bson::Array(items) => set_in_array(items, head, rest, value),
                _ => Err(CommandError::new(
                    28,
                    format!("Cannot create field '{rest}' in element {{{head}: ...}}"),
                )),
            }
        }
    }
}

/// Sets `rest` inside an array: its first part is an element index (the
/// array is padded with nulls up to it, as `$set` does).
fn set_in_array(
    items: &mut Vec<Bson>,
    head: &str,
    rest: &str,
    value: Bson,
) -> Result<(), CommandError> {
    let (idx, tail) = match rest.split_once('.') {
        Some((i, t)) => (i, Some(t)),
        None => (rest, None),
    };
    let i = idx
        .parse::<usize>()
        .ok()
        .filter(|i| *i <= 1_000_000)
        .ok_or_else(|| {
            CommandError::new(
                28,
                format!("Cannot create field '{idx}' in element {{{head}: [...]}}"),
            )
        })?;
    if items.len() <= i {
        items.resize(i + 1, Bson::Null);
    }
    match tail {
        None => {
            items[i] = value;
            Ok(())
        }
        Some(t) => {
            if items[i] == Bson::Null {
                items[i] = Bson::Document(Document::new());
            }
            match &mut items[i] {
                Bson::Document(sub) => set_path(sub, t, value),
                Bson::Array(inner) => set_in_array(inner, idx, t, value),
                _ => Err(CommandError::new(
                    28,
                    format!("Cannot create field '{t}' in element {{{idx}: ...}}"),
                )),
            }
        }
    }
}

fn unset_path(doc: &mut Document, path: &str) -> bool {
    match path.split_once('.') {
        None => doc.remove(path).is_some(),
        Some((head, rest)) => match doc.get_mut(head) {
            Some(Bson::Document(sub)) => unset_path(sub, rest),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_description() {
        let d = doc! {"_id": 1, "a": 1, "b": {"c": 2}, "gone": true};
        let ops = doc! {"$set": {"b.c": 3, "x.y": "z"}, "$unset": {"gone": "", "missing": ""}, "$inc": {"a": 2, "n": 1.5}};
        let r = apply_operators(&d, &ops).expect("applies");
        assert_eq!(
            r.doc,
            doc! {"_id": 1, "a": 3, "b": {"c": 3}, "x": {"y": "z"}, "n": 1.5}
        );
        assert_eq!(r.removed, vec!["gone".to_owned()]);
        assert_eq!(r.updated.get("a"), Some(&Bson::Int32(3)));
        assert!(apply_operators(&d, &doc! {"$inc": {"b": 1}}).is_err());
        assert!(apply_operators(&d, &doc! {"$set": {"a.q": 1}}).is_err());
        assert!(apply_operators(&d, &doc! {"$set": {"_id": 2}}).is_err());
        assert!(apply_operators(&d, &doc! {"$push": {"a": 1}}).is_err());
    }

    #[test]
    fn replacement_keeps_id() {
        assert_eq!(
            replace(&Bson::Int32(1), &doc! {"v": 2}).expect("ok"),
            doc! {"_id": 1, "v": 2}
        );
        assert!(replace(&Bson::Int32(1), &doc! {"_id": 2}).is_err());
        assert!(matches!(
            UpdateKind::parse(&Bson::Array(vec![])),
            Ok(UpdateKind::Pipeline(_))
        ));
        assert!(UpdateKind::parse(&Bson::Int32(1)).is_err());
        assert!(UpdateKind::parse(&Bson::Document(doc! {"$set": {"a": 1}, "b": 1})).is_err());
    }
}
