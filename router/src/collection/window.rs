//! The set's members and what one document's new state does to them:
//! pure decisions, no I/O.
//!
//! A set without a limit holds every matching document (up to
//! `--collection-max-docs`). A set with `sort` + `limit` holds the first
//! `limit` matching documents in [`cmp_members`] order; while it holds
//! fewer, it holds every matching document, so only a full window can have
//! documents outside it that should come in when a member leaves or moves
//! down. That case asks for a [`Placed::reconcile`] query.

use std::cmp::Ordering;
use std::collections::HashMap;

use herald_protocol::collection::order::cmp_members;
use herald_protocol::collection::{Patch, SetSpec};
use serde_json::Value;

/// One change to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// The whole document under the key.
    Upsert {
        /// Key text.
        key: String,
        /// Key value.
        key_value: Value,
        /// The document.
        doc: Value,
    },
    /// Only the changed fields; `doc` is the whole document after them.
    Patch {
        /// Key text.
        key: String,
        /// Key value.
        key_value: Value,
        /// The changed fields.
        patch: Patch,
        /// The whole document after the patch (for the stored set).
        doc: Value,
    },
    /// The key left the set.
    Remove {
        /// Key text.
        key: String,
        /// Key value.
        key_value: Value,
    },
    /// The whole set replaced (a rebuild): every member, in set order.
    Reset {
        /// Key text and document of every member.
        docs: Vec<(String, Value)>,
    },
}

/// What placing one document did.
#[derive(Debug, Default, PartialEq)]
pub struct Placed {
    /// Changes to publish, in order.
    pub outs: Vec<Out>,
    /// A full window lost a member or a member moved down to its end:
    /// documents outside may now belong in it.
    pub reconcile: bool,
    /// The set is at `--collection-max-docs`: the document was not taken.
    pub set_full: bool,
}

/// A room's members by key text.
pub type Members = HashMap<String, Value>;

/// The key text of the last member in set order.
pub fn last(spec: &SetSpec, members: &Members) -> Option<String> {
    members
        .iter()
        .max_by(|(ka, a), (kb, b)| cmp_members(spec, a, ka, b, kb))
        .map(|(k, _)| k.clone())
}

fn key_value(spec: &SetSpec, doc: &Value) -> Value {
    herald_protocol::collection::path::get_dotted(doc, &spec.key)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Applies one document's new state to `members`: `new` is the document
/// (already known to match the filter) or `None` when it was deleted or no
/// longer matches; `patch` is the change as a patch when the document was
/// a member and its new state came from applying it.
pub fn place(
    spec: &SetSpec,
    members: &mut Members,
    max_docs: usize,
    key: &str,
    new: Option<Value>,
    patch: Option<Patch>,
) -> Placed {
    let mut placed = Placed::default();
    let limit = spec
        .limit
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX))
        .filter(|_| spec.sort.is_some());
    let full = limit.is_some_and(|l| members.len() >= l);
    match new {
        Some(doc) => {
            if let Some(old) = members.get(key) {
                let moved_down = cmp_members(spec, &doc, key, old, key) == Ordering::Greater;
                let out = match patch {
                    Some(p) if p.is_empty() => None,
                    Some(p) => Some(Out::Patch {
                        key: key.to_owned(),
                        key_value: key_value(spec, &doc),
                        patch: p,
                        doc: doc.clone(),
                    }),
                    None if old == &doc => None,
                    None => Some(Out::Upsert {
                        key: key.to_owned(),
                        key_value: key_value(spec, &doc),
                        doc: doc.clone(),
                    }),
                };
                members.insert(key.to_owned(), doc);
                if full && moved_down && last(spec, members).as_deref() == Some(key) {
                    placed.reconcile = true;
                }
                placed.outs.extend(out);
            } else {
                match limit {
                    None if members.len() >= max_docs => placed.set_full = true,
                    Some(l) if members.len() >= l => {
                        let Some(tail) = last(spec, members) else {
                            return placed;
                        };
                        let beats = members.get(&tail).is_some_and(|t| {
                            cmp_members(spec, &doc, key, t, &tail) == Ordering::Less
                        });
                        if beats {
                            let gone = members.remove(&tail).unwrap_or(Value::Null);
                            placed.outs.push(Out::Remove {
                                key: tail,
                                key_value: key_value(spec, &gone),
                            });
                            placed.outs.push(Out::Upsert {
                                key: key.to_owned(),
                                key_value: key_value(spec, &doc),
                                doc: doc.clone(),
                            });
                            members.insert(key.to_owned(), doc);
                        }
                    }
                    _ => {
                        placed.outs.push(Out::Upsert {
                            key: key.to_owned(),
                            key_value: key_value(spec, &doc),
                            doc: doc.clone(),
                        });
                        members.insert(key.to_owned(), doc);
                    }
                }
            }
        }
        None => {
            if let Some(gone) = members.remove(key) {
                placed.outs.push(Out::Remove {
                    key: key.to_owned(),
                    key_value: key_value(spec, &gone),
                });
                placed.reconcile = full;
            }
        }
    }
    placed
}

/// Brings `members` to `fresh` (the window as a query returned it now):
/// members that left are removed, documents that entered are upserted;
/// members in both keep their version (exact at the event, where the
/// query's is "now").
pub fn reconcile(members: &mut Members, fresh: Vec<(String, Value)>, spec: &SetSpec) -> Vec<Out> {
    let fresh: HashMap<String, Value> = fresh.into_iter().collect();
    let mut outs = Vec::new();
    let mut gone: Vec<String> = members
        .keys()
        .filter(|k| !fresh.contains_key(*k))
        .cloned()
        .collect();
    gone.sort();
    for k in gone {
        let doc = members.remove(&k).unwrap_or(Value::Null);
        outs.push(Out::Remove {
            key_value: key_value(spec, &doc),
            key: k,
        });
    }
    let mut came: Vec<(String, Value)> = fresh
        .into_iter()
        .filter(|(k, _)| !members.contains_key(k))
        .collect();
    came.sort_by(|(ka, a), (kb, b)| cmp_members(spec, a, ka, b, kb));
    for (k, doc) in came {
        outs.push(Out::Upsert {
            key: k.clone(),
            key_value: key_value(spec, &doc),
            doc: doc.clone(),
        });
        members.insert(k, doc);
    }
    outs
}

#[cfg(test)]
mod tests {
    use herald_protocol::collection::key_text;
    use serde_json::json;

    use super::*;

    fn spec(limit: Option<u32>) -> SetSpec {
        SetSpec {
            key: "_id".into(),
            sort: Some("n".into()),
            descending: false,
            limit,
        }
    }

    fn d(id: &str, n: i64) -> (String, Value) {
        (key_text(&json!(id)), json!({"_id": id, "n": n}))
    }

    fn kinds(p: &Placed) -> Vec<&'static str> {
        p.outs
            .iter()
            .map(|o| match o {
                Out::Upsert { .. } => "upsert",
                Out::Patch { .. } => "patch",
                Out::Remove { .. } => "remove",
                Out::Reset { .. } => "reset",
            })
            .collect()
    }

    #[test]
    fn a_full_window_evicts_its_last_member_for_a_better_document() {
        let s = spec(Some(2));
        let mut m: Members = [d("a", 1), d("b", 5)].into_iter().collect();
        let (k, doc) = d("c", 3);
        let p = place(&s, &mut m, 1000, &k, Some(doc), None);
        assert_eq!(kinds(&p), ["remove", "upsert"]);
        assert!(m.contains_key(&key_text(&json!("c"))) && !m.contains_key(&key_text(&json!("b"))));
        let (k, doc) = d("z", 9);
        let p = place(&s, &mut m, 1000, &k, Some(doc), None);
        assert!(
            p.outs.is_empty() && !p.reconcile,
            "worse than the last: stays out"
        );
    }

    #[test]
    fn leaving_or_moving_to_the_end_of_a_full_window_asks_for_a_query() {
        let s = spec(Some(2));
        let mut m: Members = [d("a", 1), d("b", 5)].into_iter().collect();
        let (k, doc) = d("a", 7);
        let mut patch = Patch::default();
        patch.set.insert("n".into(), json!(7));
        let p = place(&s, &mut m, 1000, &k, Some(doc), Some(patch));
        assert_eq!(kinds(&p), ["patch"]);
        assert!(p.reconcile, "a moved past b, the old last member");
        let p = place(&s, &mut m, 1000, &key_text(&json!("b")), None, None);
        assert_eq!(kinds(&p), ["remove"]);
        assert!(p.reconcile);
        let p = place(&s, &mut m, 1000, &key_text(&json!("b")), None, None);
        assert!(p.outs.is_empty(), "not a member");
        let fresh = vec![d("a", 7), d("q", 2)];
        let outs = reconcile(&mut m, fresh, &s);
        assert_eq!(outs.len(), 1);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn an_unlimited_set_stops_at_the_bound_and_empty_patches_publish_nothing() {
        let s = SetSpec::by_id();
        let mut m: Members = [d("a", 1)].into_iter().collect();
        let (k, doc) = d("b", 1);
        let p = place(&s, &mut m, 1, &k, Some(doc), None);
        assert!(p.set_full && p.outs.is_empty());
        let (k, doc) = d("a", 1);
        let p = place(&s, &mut m, 1, &k, Some(doc), Some(Patch::default()));
        assert!(p.outs.is_empty());
    }
}
