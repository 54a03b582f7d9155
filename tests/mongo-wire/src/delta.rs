//! Update pipelines (`[{$set: ...}, {$unset: ...}]`) and the change-stream
//! `updateDescription` a real server reports for them: the difference
//! between the old and the new document, with arrays that got shorter
//! reported as `truncatedArrays` (MongoDB 4.7+ behaviour), and the
//! `disambiguatedPaths` a server adds under `showExpandedEvents` (6.1+):
//! for every reported path with a field name that holds a dot or is a
//! numeric object key, the path's parts, array indexes as integers.

use mongodb::bson::{Bson, Document, doc};

use crate::error::CommandError;
use crate::matcher::resolve;
use crate::update::set_path;

/// One part of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// An object field name.
    Field(String),
    /// An array index.
    Index(usize),
}

/// The dotted text of a path.
fn dotted(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Field(f) => f.clone(),
            Part::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether a path's dotted text alone does not say what it is.
fn ambiguous(parts: &[Part]) -> bool {
    parts.iter().any(|p| match p {
        Part::Field(f) => {
            f.contains('.') || (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        }
        Part::Index(_) => false,
    })
}

fn parts_bson(parts: &[Part]) -> Bson {
    Bson::Array(
        parts
            .iter()
            .map(|p| match p {
                Part::Field(f) => Bson::String(f.clone()),
                Part::Index(i) => Bson::Int32(i32::try_from(*i).unwrap_or(i32::MAX)),
            })
            .collect(),
    )
}

/// The parts of a dotted path as written by an update operator, read
/// against `doc`: a numeric part is an index where the value is an array.
pub fn parts_in(doc: &Document, path: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut at: Option<Bson> = Some(Bson::Document(doc.clone()));
    for seg in path.split('.') {
        let next = match &at {
            Some(Bson::Array(a)) => match seg.parse::<usize>() {
                Ok(i) => {
                    out.push(Part::Index(i));
                    a.get(i).cloned()
                }
                Err(_) => {
                    out.push(Part::Field(seg.to_owned()));
                    None
                }
            },
            Some(Bson::Document(d)) => {
                out.push(Part::Field(seg.to_owned()));
                d.get(seg).cloned()
            }
            _ => {
                out.push(Part::Field(seg.to_owned()));
                None
            }
        };
        at = next;
    }
    out
}

/// `disambiguatedPaths` for these paths (empty when none is ambiguous).
pub fn disambiguated<'a>(paths: impl Iterator<Item = &'a [Part]>) -> Document {
    let mut d = Document::new();
    for p in paths {
        if ambiguous(p) {
            d.insert(dotted(p), parts_bson(p));
        }
    }
    d
}

/// What changed from one document to another.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delta {
    /// New values.
    pub updated: Vec<(Vec<Part>, Bson)>,
    /// Removed fields.
    pub removed: Vec<Vec<Part>>,
    /// Arrays cut to a new size.
    pub truncated: Vec<(Vec<Part>, usize)>,
}

impl Delta {
    /// The `updateDescription` and the `disambiguatedPaths` beside it.
    pub fn description(&self) -> (Document, Document) {
        let mut updated = Document::new();
        for (p, v) in &self.updated {
            updated.insert(dotted(p), v.clone());
        }
        let removed: Vec<Bson> = self
            .removed
            .iter()
            .map(|p| Bson::String(dotted(p)))
            .collect();
        let truncated: Vec<Bson> = self
            .truncated
            .iter()
            .map(|(p, n)| {
                Bson::Document(
                    doc! {"field": dotted(p), "newSize": i32::try_from(*n).unwrap_or(i32::MAX)},
                )
            })
            .collect();
        let amb = disambiguated(
            self.updated
                .iter()
                .map(|(p, _)| p.as_slice())
                .chain(self.removed.iter().map(Vec::as_slice))
                .chain(self.truncated.iter().map(|(p, _)| p.as_slice())),
        );
        (
            doc! {"updatedFields": updated, "removedFields": removed, "truncatedArrays": truncated},
            amb,
        )
    }
}

/// The difference between `old` and `new`, as a server's delta reports it.
pub fn diff(old: &Document, new: &Document) -> Delta {
    let mut d = Delta::default();
    diff_docs(old, new, &mut Vec::new(), &mut d);
    d
}

fn diff_docs(old: &Document, new: &Document, at: &mut Vec<Part>, d: &mut Delta) {
    for (k, v) in new {
        at.push(Part::Field(k.clone()));
        match old.get(k) {
            Some(o) => diff_values(o, v, at, d),
            None => d.updated.push((at.clone(), v.clone())),
        }
        at.pop();
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            let mut p = at.clone();
            p.push(Part::Field(k.clone()));
            d.removed.push(p);
        }
    }
}

fn diff_values(old: &Bson, new: &Bson, at: &mut Vec<Part>, d: &mut Delta) {
    match (old, new) {
        _ if old == new => {}
        (Bson::Document(o), Bson::Document(n)) => diff_docs(o, n, at, d),
        (Bson::Array(o), Bson::Array(n)) => {
            if n.len() < o.len() {
                d.truncated.push((at.clone(), n.len()));
            }
            for (i, v) in n.iter().enumerate() {
                at.push(Part::Index(i));
                match o.get(i) {
                    Some(ov) => diff_values(ov, v, at, d),
                    None => d.updated.push((at.clone(), v.clone())),
                }
                at.pop();
            }
        }
        _ => d.updated.push((at.clone(), new.clone())),
    }
}

/// Evaluates a pipeline expression against `doc`: `"$field"` reads a
/// field, `{$literal: v}` is `v`, objects and arrays are evaluated member
/// by member, anything else is itself. `None`: a missing field.
fn eval(doc: &Document, e: &Bson) -> Result<Option<Bson>, CommandError> {
    Ok(match e {
        Bson::String(s) if s.starts_with('$') && !s.starts_with("$$") => {
            resolve(doc, &s[1..]).first().map(|v| (*v).clone())
        }
        Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
            match d.iter().next() {
                Some((k, v)) if k == "$literal" && d.len() == 1 => Some(v.clone()),
                Some((k, _)) => {
                    return Err(CommandError::bad_value(format!(
                        "unsupported pipeline expression {k}"
                    )));
                }
                None => None,
            }
        }
        Bson::Document(d) => {
            let mut out = Document::new();
            for (k, v) in d {
                if let Some(v) = eval(doc, v)? {
                    out.insert(k.clone(), v);
                }
            }
            Some(Bson::Document(out))
        }
        Bson::Array(a) => Some(Bson::Array(
            a.iter()
                .map(|x| eval(doc, x).map(|v| v.unwrap_or(Bson::Null)))
                .collect::<Result<_, _>>()?,
        )),
        other => Some(other.clone()),
    })
}

fn unset_path(doc: &mut Document, path: &str) {
    match path.split_once('.') {
        None => {
            doc.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(sub)) = doc.get_mut(head) {
                unset_path(sub, rest);
            }
        }
    }
}

/// Applies an update pipeline (`$set` / `$addFields`, `$unset`) to a copy
/// of `doc`.
///
/// # Errors
/// Other stages or expressions (`BadValue`), paths through scalars, and a
/// changed `_id` (`ImmutableField`).
pub fn apply_pipeline(doc: &Document, stages: &[Bson]) -> Result<Document, CommandError> {
    let mut out = doc.clone();
    for s in stages {
        let Bson::Document(s) = s else {
            return Err(CommandError::bad_value("pipeline stages must be objects"));
        };
        let Some((name, arg)) = s.iter().next() else {
            return Err(CommandError::bad_value("empty pipeline stage"));
        };
        match (name.as_str(), arg) {
            ("$set" | "$addFields", Bson::Document(fields)) => {
                let before = out.clone();
                for (path, e) in fields {
                    match eval(&before, e)? {
                        Some(v) => set_path(&mut out, path, v)?,
                        None => unset_path(&mut out, path),
                    }
                }
            }
            ("$unset", Bson::String(f)) => unset_path(&mut out, f),
            ("$unset", Bson::Array(fs)) => {
                for f in fs {
                    if let Bson::String(f) = f {
                        unset_path(&mut out, f);
                    }
                }
            }
            _ => {
                return Err(CommandError::bad_value(format!(
                    "unsupported update pipeline stage {name}"
                )));
            }
        }
    }
    if out.get("_id") != doc.get("_id") {
        return Err(CommandError::new(
            66,
            "Performing an update on the path '_id' would modify the immutable field '_id'",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_array_is_a_truncation_and_paths_are_disambiguated() {
        let old = doc! {"_id": 1, "a": 1, "array": ["foo", {"a": "bar"}, 1, 2, 3]};
        let new = apply_pipeline(
            &old,
            &[Bson::Document(
                doc! {"$set": {"array": ["foo", {"a": "bar"}]}},
            )],
        )
        .expect("applies");
        let (ud, amb) = diff(&old, &new).description();
        assert_eq!(
            ud,
            doc! {"updatedFields": {}, "removedFields": [], "truncatedArrays": [{"field": "array", "newSize": 2}]}
        );
        assert!(amb.is_empty());
        let d = doc! {"_id": 1, "a": [{"1": 1}], "o": {"1": 1}};
        let paths = [
            parts_in(&d, "a.0.1"),
            parts_in(&d, "o.1"),
            parts_in(&d, "a.0"),
        ];
        let amb = disambiguated(paths.iter().map(Vec::as_slice));
        assert_eq!(amb, doc! {"a.0.1": ["a", 0_i32, "1"], "o.1": ["o", "1"]});
        let moved = apply_pipeline(
            &d,
            &[
                Bson::Document(doc! {"$set": {"b": "$o"}}),
                Bson::Document(doc! {"$unset": "o"}),
            ],
        )
        .expect("applies");
        let delta = diff(&d, &moved);
        assert_eq!(delta.removed, vec![vec![Part::Field("o".into())]]);
        assert_eq!(
            delta.updated,
            vec![(vec![Part::Field("b".into())], Bson::Document(doc! {"1": 1}))]
        );
    }
}
