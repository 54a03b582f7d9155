//! A client's copy of a live collection: a snapshot, then every change
//! applied in order. `herald.js` does the same in the browser; tests use
//! this one to check that what subscribers hold equals the collection.

use std::collections::HashMap;

use serde_json::Value;

use super::change::{Change, ChangeKind, Patch, Snapshot};
use super::path::{self, PathError};
use super::{SetSpec, key_text, order};

/// A change that cannot be applied to the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A patch for a key the set does not hold.
    #[error("patch for key {0}, which the set does not hold")]
    Missing(String),
    /// A patch path that cannot be written.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// A live set of documents by key text.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSet {
    /// The set's shape, from the latest snapshot.
    pub spec: SetSpec,
    /// The members by key text.
    pub docs: HashMap<String, Value>,
}

impl LiveSet {
    /// An empty set of this shape.
    pub fn new(spec: SetSpec) -> Self {
        Self {
            spec,
            docs: HashMap::new(),
        }
    }

    /// The set a snapshot describes.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let mut set = Self::new(s.spec.clone());
        for d in &s.docs {
            if let Some(k) = path::get_dotted(d, &s.spec.key) {
                set.docs.insert(key_text(k), d.clone());
            }
        }
        set
    }

    /// Applies one change.
    ///
    /// # Errors
    /// [`ApplyError`] for a patch of a missing key or an unwritable path;
    /// the set is unchanged then.
    pub fn apply(&mut self, c: &Change) -> Result<(), ApplyError> {
        let k = key_text(&c.key);
        match &c.kind {
            ChangeKind::Upsert { doc } => {
                self.docs.insert(k, doc.clone());
            }
            ChangeKind::Remove => {
                self.docs.remove(&k);
            }
            ChangeKind::Patch(p) => {
                let doc = self
                    .docs
                    .get(&k)
                    .ok_or_else(|| ApplyError::Missing(k.clone()))?;
                let next = patched(doc, p)?;
                self.docs.insert(k, next);
            }
        }
        Ok(())
    }

    /// The members in the set's order.
    pub fn sorted(&self) -> Vec<&Value> {
        let mut all: Vec<(&String, &Value)> = self.docs.iter().collect();
        all.sort_by(|(ka, a), (kb, b)| order::cmp_members(&self.spec, a, ka, b, kb));
        all.into_iter().map(|(_, v)| v).collect()
    }
}

/// `doc` with `p` applied: truncations, then new values, then removals.
///
/// # Errors
/// [`PathError`] for a path that cannot be written.
pub fn patched(doc: &Value, p: &Patch) -> Result<Value, PathError> {
    let mut next = doc.clone();
    for (field, size) in &p.truncate {
        let size = usize::try_from(*size).unwrap_or(usize::MAX);
        path::truncate(&mut next, &p.parts(field), size)?;
    }
    for (field, v) in &p.set {
        path::set(&mut next, &p.parts(field), v.clone())?;
    }
    for field in &p.unset {
        path::unset(&mut next, &p.parts(field))?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_snapshot_then_changes_give_the_documents_in_order() {
        let spec = SetSpec {
            key: "_id".into(),
            sort: Some("n".into()),
            descending: false,
            limit: None,
        };
        let snap = Snapshot {
            room: "r".into(),
            spec,
            reset: false,
            docs: vec![json!({"_id": "a", "n": 2, "tags": [1, 2, 3]})],
        };
        let mut set = LiveSet::from_snapshot(&snap);
        let up = |key: &str, doc| Change {
            room: "r".into(),
            key: json!(key),
            kind: ChangeKind::Upsert { doc },
        };
        set.apply(&up("b", json!({"_id": "b", "n": 1}))).unwrap();
        let mut p = Patch::default();
        p.truncate.insert("tags".into(), 1);
        p.set.insert("tags.2".into(), json!(9));
        p.set.insert("a.b".into(), json!(1));
        p.paths.insert("a.b".into(), vec!["a.b".into()]);
        p.unset.push("n".into());
        set.apply(&Change {
            room: "r".into(),
            key: json!("a"),
            kind: ChangeKind::Patch(p),
        })
        .unwrap();
        assert_eq!(
            set.sorted(),
            vec![
                &json!({"_id": "a", "tags": [1, null, 9], "a.b": 1}),
                &json!({"_id": "b", "n": 1})
            ],
            "a lost its sort field, so it sorts first"
        );
        let miss = Change {
            room: "r".into(),
            key: json!("zz"),
            kind: ChangeKind::Patch(Patch::default()),
        };
        assert!(matches!(set.apply(&miss), Err(ApplyError::Missing(_))));
        set.apply(&Change {
            room: "r".into(),
            key: json!("a"),
            kind: ChangeKind::Remove,
        })
        .unwrap();
        assert_eq!(set.docs.len(), 1);
    }
}
