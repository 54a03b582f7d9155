//! The bounded queries a live collection needs: one document by its key
//! (an update whose document is neither cached nor in the event) and the
//! window (a full window lost a member; a rebuild). What they return is the
//! collection **now**, not at the event being processed.

use futures_util::TryStreamExt;
use herald_protocol::collection::order::cmp_members;
use herald_protocol::collection::{key_text, path};
use mongodb::bson::{Document, doc};
use serde_json::Value;

use super::doc::{find_projection, matches, project};
use crate::convert::document_to_json;
use crate::metrics;
use crate::rules::Collection;

/// The filter of a room's documents: the collection's filter and the
/// room's own `documentKey` field values.
fn room_filter(c: &Collection, constraint: &Document) -> Document {
    match (c.filter.is_empty(), constraint.is_empty()) {
        (true, _) => constraint.clone(),
        (false, true) => c.filter.clone(),
        (false, false) => doc! { "$and": [c.filter.clone(), constraint.clone()] },
    }
}

/// A queried document as the set holds it: JSON, projected, with its key
/// text; `None` (counted) when it has no key or is too large.
pub fn member_of(c: &Collection, d: &Document, max_doc_bytes: usize) -> Option<(String, Value)> {
    let v = match document_to_json(d) {
        Ok(v) => project(v, c.project.as_deref()),
        Err(e) => {
            tracing::warn!(collection = %c.name, error = %e, "queried document skipped: cannot convert");
            metrics::skipped("convert");
            return None;
        }
    };
    let Some(k) = path::get_dotted(&v, &c.spec.key) else {
        tracing::warn!(collection = %c.name, "queried document skipped: no key field");
        metrics::skipped("no_key");
        return None;
    };
    let k = key_text(k);
    if serde_json::to_vec(&v).map_or(0, |b| b.len()) > max_doc_bytes {
        tracing::warn!(collection = %c.name, key = %k, "queried document skipped: too large");
        metrics::skipped("doc_too_large");
        return None;
    }
    Some((k, v))
}

/// The room's window now: `find(filter).sort(sort, _id).limit(limit)`, at
/// most `cap` documents, as members (filter checked again on the JSON form).
///
/// # Errors
/// The driver's error.
pub async fn window(
    mongo: &mongodb::Client,
    c: &Collection,
    constraint: &Document,
    cap: usize,
    max_doc_bytes: usize,
) -> Result<Vec<(String, Value)>, mongodb::error::Error> {
    let coll = mongo.database(&c.db).collection::<Document>(&c.coll);
    let limit = c
        .spec
        .limit
        .map_or(cap, |l| usize::try_from(l).unwrap_or(usize::MAX).min(cap));
    let dir = if c.spec.descending { -1_i32 } else { 1_i32 };
    let mut sort = Document::new();
    if let Some(s) = &c.spec.sort {
        sort.insert(s.clone(), dir);
    }
    sort.insert("_id", 1_i32);
    let mut find = coll
        .find(room_filter(c, constraint))
        .sort(sort)
        .limit(i64::try_from(limit).unwrap_or(i64::MAX));
    if let Some(p) = &c.project {
        find = find.projection(find_projection(p));
    }
    let mut cursor = find.await?;
    let mut out = Vec::new();
    let mut last_sort = None;
    while let Some(d) = cursor.try_next().await? {
        if let Some(m) = member_of(c, &d, max_doc_bytes) {
            if matches(&m.1, &c.filter) {
                out.push(m);
                last_sort = c.spec.sort.as_deref().map(|s| d.get(s).cloned());
            }
        }
        if out.len() >= limit {
            break;
        }
    }
    // Ties on the sort field at the window's edge: the server breaks them
    // by `_id`, the set by key text. Take every tied document (at most
    // `cap`) and let the set's own order choose.
    if let (Some(sort), Some(Some(v)), true) = (&c.spec.sort, last_sort, out.len() >= limit) {
        if !sort.contains('.') {
            let tied = doc! { "$and": [room_filter(c, constraint), { sort.as_str(): v }] };
            let mut find = coll
                .find(tied)
                .limit(i64::try_from(cap).unwrap_or(i64::MAX));
            if let Some(p) = &c.project {
                find = find.projection(find_projection(p));
            }
            let mut cursor = find.await?;
            while let Some(d) = cursor.try_next().await? {
                if let Some(m) = member_of(c, &d, max_doc_bytes) {
                    if matches(&m.1, &c.filter) && !out.iter().any(|(k, _)| *k == m.0) {
                        out.push(m);
                    }
                }
            }
            out.sort_by(|(ka, a), (kb, b)| cmp_members(&c.spec, a, ka, b, kb));
            out.truncate(limit);
        }
    }
    Ok(out)
}

/// One document by its `documentKey`, now; `None` when it is gone.
///
/// # Errors
/// The driver's error.
pub async fn by_key(
    mongo: &mongodb::Client,
    c: &Collection,
    document_key: Document,
) -> Result<Option<Document>, mongodb::error::Error> {
    let coll = mongo.database(&c.db).collection::<Document>(&c.coll);
    let mut find = coll.find_one(document_key);
    if let Some(p) = &c.project {
        find = find.projection(find_projection(p));
    }
    find.await
}
