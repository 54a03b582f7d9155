//! From a change event's `updateDescription` to the [`Patch`] clients get.
//!
//! `updatedFields` become `set`, `removedFields` `unset`, `truncatedArrays`
//! `truncate`, and `disambiguatedPaths` (given with `showExpandedEvents` for
//! paths whose field names hold dots or are numeric object keys) `paths`.
//! A numeric part of a path not listed there is an array index when the
//! value it walks into is an array, else an object key (MongoDB's rule,
//! applied by [`herald_protocol::collection::apply::patched`]).

use herald_protocol::collection::Patch;
use mongodb::bson::{RawBsonRef, RawDocument};

use super::doc::project;
use crate::convert::{ConvertError, bson_to_json};
use crate::rules::collection::related;

/// The patch an `updateDescription` describes.
///
/// # Errors
/// [`ConvertError`] when a value cannot be converted or the description is
/// malformed.
pub fn from_update_description(ud: &RawDocument) -> Result<Patch, ConvertError> {
    let bad = |what: &str| ConvertError::Malformed(format!("updateDescription: {what}"));
    let mut p = Patch::default();
    if let Ok(fields) = ud.get_document("updatedFields") {
        for f in fields {
            let (k, v) = f.map_err(|e| ConvertError::Malformed(e.to_string()))?;
            let v = mongodb::bson::Bson::try_from(v)
                .map_err(|e| ConvertError::Malformed(e.to_string()))?;
            p.set.insert(k.to_owned(), bson_to_json(&v)?);
        }
    }
    if let Ok(removed) = ud.get_array("removedFields") {
        for r in removed {
            match r.map_err(|e| ConvertError::Malformed(e.to_string()))? {
                RawBsonRef::String(s) => p.unset.push(s.to_owned()),
                _ => return Err(bad("removedFields holds a non-string")),
            }
        }
    }
    if let Ok(truncated) = ud.get_array("truncatedArrays") {
        for t in truncated {
            let RawBsonRef::Document(t) = t.map_err(|e| ConvertError::Malformed(e.to_string()))?
            else {
                return Err(bad("truncatedArrays holds a non-document"));
            };
            let field = t
                .get_str("field")
                .map_err(|_| bad("truncatedArrays.field"))?;
            let size = match t.get("newSize") {
                Ok(Some(RawBsonRef::Int32(n))) => u64::try_from(n).ok(),
                Ok(Some(RawBsonRef::Int64(n))) => u64::try_from(n).ok(),
                _ => None,
            }
            .ok_or_else(|| bad("truncatedArrays.newSize"))?;
            p.truncate.insert(field.to_owned(), size);
        }
    }
    if let Ok(paths) = ud.get_document("disambiguatedPaths") {
        for e in paths {
            let (k, v) = e.map_err(|e| ConvertError::Malformed(e.to_string()))?;
            let RawBsonRef::Array(parts) = v else {
                return Err(bad("disambiguatedPaths holds a non-array"));
            };
            let mut out = Vec::new();
            for part in parts {
                out.push(
                    match part.map_err(|e| ConvertError::Malformed(e.to_string()))? {
                        RawBsonRef::String(s) => s.to_owned(),
                        RawBsonRef::Int32(i) => i.to_string(),
                        RawBsonRef::Int64(i) => i.to_string(),
                        _ => return Err(bad("disambiguatedPaths part")),
                    },
                );
            }
            p.paths.insert(k.to_owned(), out);
        }
    }
    Ok(p)
}

/// Every path the patch names, as parts.
pub fn touched(p: &Patch) -> Vec<Vec<String>> {
    p.set
        .keys()
        .chain(p.unset.iter())
        .chain(p.truncate.keys())
        .map(|k| p.parts(k))
        .collect()
}

/// Whether the dotted projection path `f` covers `parts` (`parts` is `f`
/// or lies inside it).
fn covers(f: &str, parts: &[String]) -> bool {
    let n = f.split('.').count();
    n <= parts.len() && related(parts, f)
}

/// `p` restricted to a projection: a change inside a kept path stays; a
/// new value of an ancestor of kept paths is projected down to them; a
/// removal or truncation of an ancestor stays; anything else goes. `None`
/// keeps the patch whole.
pub fn project_patch(p: Patch, paths: Option<&[String]>) -> Patch {
    let Some(paths) = paths else { return p };
    let mut out = Patch::default();
    let keep = |parts: &[String]| paths.iter().any(|f| related(parts, f));
    for (k, v) in &p.set {
        let parts = p.parts(k);
        if paths.iter().any(|f| covers(f, &parts)) {
            out.set.insert(k.clone(), v.clone());
        } else if keep(&parts) {
            // An ancestor of kept paths: project its new value down to them.
            let inner: Vec<String> = paths
                .iter()
                .filter(|f| related(&parts, f))
                .map(|f| f.split('.').skip(parts.len()).collect::<Vec<_>>().join("."))
                .collect();
            out.set.insert(k.clone(), project(v.clone(), Some(&inner)));
        }
    }
    for k in &p.unset {
        if keep(&p.parts(k)) {
            out.unset.push(k.clone());
        }
    }
    for (k, n) in &p.truncate {
        if keep(&p.parts(k)) {
            out.truncate.insert(k.clone(), *n);
        }
    }
    for (k, parts) in &p.paths {
        if out.set.contains_key(k) || out.unset.contains(k) || out.truncate.contains_key(k) {
            out.paths.insert(k.clone(), parts.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mongodb::bson::{RawDocumentBuf, doc};
    use serde_json::json;

    use super::*;

    #[test]
    fn a_description_becomes_a_patch_and_projects() {
        let ud = RawDocumentBuf::from_document(&doc! {
            "updatedFields": {"status": "paid", "customer": {"name": "A", "card": "x"}, "items.1": 5_i32},
            "removedFields": ["note", "secret"],
            "truncatedArrays": [{"field": "items", "newSize": 2_i32}],
            "disambiguatedPaths": {"items.1": ["items", 1_i32]},
        })
        .unwrap();
        let p = from_update_description(&ud).unwrap();
        assert_eq!(p.set["items.1"], json!(5));
        assert_eq!(p.unset, vec!["note", "secret"]);
        assert_eq!(p.truncate["items"], 2);
        assert_eq!(p.paths["items.1"], vec!["items", "1"]);
        let kept = vec![
            "status".to_owned(),
            "customer.name".to_owned(),
            "items".to_owned(),
        ];
        let q = project_patch(p, Some(&kept));
        assert_eq!(q.set["customer"], json!({"name": "A"}));
        assert_eq!(q.set["status"], json!("paid"));
        assert!(q.set.contains_key("items.1"));
        assert!(q.unset.is_empty(), "note and secret are not kept");
        assert_eq!(q.truncate["items"], 2);
        assert!(q.paths.contains_key("items.1"));
    }
}
