//! Resync: the stream's position is gone (history lost, invalid token), so
//! rebuild the rooms' state from the collections and start from now.
//!
//! 1. Open a new stream from now; its first token `T0` marks the cut.
//! 2. For each rule, `find` the documents its filter selects (the filter's
//!    `fullDocument.*` and `documentKey._id` conditions, applied to the
//!    documents), at most `--resync-max-docs` per scope, and route each as if
//!    it had just been inserted.
//! 3. Publish, in this order: first an event `herald:resync` (data
//!    `{"scope","reason","docs"}`) to every room that gets a document, at
//!    `src_pos` = `T0:0`: clients drop their state for the room on it; then
//!    the documents, at `src_pos` = `T0:1<seq>`, which clients take as the
//!    new state. Both sort after every old position and before every new one.
//!    Live-collection rooms get no signal: each gets ONE `herald:snapshot`
//!    with `reset: true` at `T0:0`, the set rebuilt from the collection now,
//!    stored with `SetOp::Reset`: it replaces the stored set and every
//!    client's copy at once, so it is the signal and the fresh state in one.
//! 4. The caller checkpoints `T0` and reads on from the new stream.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::TryStreamExt;
use herald_protocol::bus::Publication;
use mongodb::bson::{Bson, Document, RawDocumentBuf, doc};

use crate::collection::publication::publications;
use crate::collection::query;
use crate::collection::window::Out;

use crate::lease::Lease;
use crate::metrics;
use crate::publish::{Origin, PublishError, route_rule};
use crate::scope::ScopeCtx;
use crate::stream::open::{Start, Stream, error_code, open};
use crate::stream::token::token_hex;

/// The event name of the resync signal.
pub const RESYNC_EVENT: &str = "herald:resync";

/// The rule filter (on change events) as a filter on documents: keeps
/// `fullDocument.<path>` (as `<path>`) and `documentKey._id` (as `_id`),
/// drops conditions on other event fields (which only widens the set).
pub fn find_filter(event_filter: &Document) -> Document {
    let mut out = Document::new();
    for (k, v) in event_filter {
        match k.as_str() {
            "$and" | "$or" | "$nor" => {
                let parts: Vec<Bson> = match v {
                    Bson::Array(a) => a
                        .iter()
                        .filter_map(Bson::as_document)
                        .map(|d| Bson::Document(find_filter(d)))
                        .collect(),
                    _ => Vec::new(),
                };
                let widened = parts
                    .iter()
                    .any(|p| matches!(p, Bson::Document(d) if d.is_empty()));
                // An emptied branch of an $or/$nor would match everything:
                // drop the whole $or (wider), and drop a $nor (wider too).
                match k.as_str() {
                    "$and" => {
                        let kept: Vec<Bson> = parts
                            .into_iter()
                            .filter(|p| !matches!(p, Bson::Document(d) if d.is_empty()))
                            .collect();
                        if !kept.is_empty() {
                            out.insert("$and", kept);
                        }
                    }
                    "$or" if !widened && !parts.is_empty() => {
                        out.insert("$or", parts);
                    }
                    _ => {}
                }
            }
            "documentKey._id" => {
                out.insert("_id", v.clone());
            }
            other => {
                if let Some(path) = other.strip_prefix("fullDocument.") {
                    out.insert(path, v.clone());
                }
            }
        }
    }
    out
}

/// The `src_pos` of the resync signal: after `t0`, before every document.
fn signal_pos(t0: &str) -> String {
    format!("{t0}:0")
}

/// The `src_pos` of the `seq`-th resync document.
fn doc_pos(t0: &str, seq: usize) -> String {
    format!("{t0}:1{seq:010}")
}

/// Runs a resync for `ctx`'s scope; returns the new stream and its token.
///
/// # Errors
/// [`ResyncError::Publish`] when publishing stopped (fenced, or leadership
/// ended); [`ResyncError::Mongo`] when MongoDB failed (retry later).
pub async fn resync(
    ctx: &ScopeCtx,
    lease: &Lease,
    cause: &mongodb::error::Error,
    known: &[(usize, String, Document)],
) -> Result<(Stream, String), ResyncError> {
    let scope = &ctx.scope;
    ::metrics::counter!(metrics::RESYNCS_TOTAL, "scope" => scope.name.clone()).increment(1);
    let stream = open(
        &ctx.mongo,
        scope,
        &Start::Now,
        ctx.settings.max_await,
        u32::try_from(ctx.settings.batch_max).unwrap_or(u32::MAX),
    )
    .await?;
    let t0 = stream
        .resume_token()
        .as_ref()
        .and_then(token_hex)
        .ok_or(ResyncError::NoToken)?;
    let mut pubs: Vec<Publication> = Vec::new();
    let mut rooms = BTreeSet::new();
    let mut docs = 0usize;
    let max = ctx.settings.resync_max_docs;
    'rules: for rule in &scope.rules {
        if docs >= max {
            break;
        }
        let coll = ctx
            .mongo
            .database(&rule.db)
            .collection::<Document>(&rule.coll);
        let remaining = i64::try_from(max - docs).unwrap_or(i64::MAX);
        let mut cursor = coll
            .find(find_filter(&rule.filter))
            .limit(remaining)
            .await?;
        while let Some(d) = cursor.try_next().await? {
            if docs >= max {
                break 'rules;
            }
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            let event = doc! {
                "_id": { "_data": &t0 },
                "operationType": "insert",
                "ns": { "db": &rule.db, "coll": &rule.coll },
                "documentKey": { "_id": id },
                "fullDocument": d,
            };
            let pos = doc_pos(&t0, docs);
            let before = pubs.len();
            let Ok(event) = mongodb::bson::RawDocumentBuf::from_document(&event) else {
                metrics::skipped("convert");
                docs += 1;
                continue;
            };
            route_rule(
                rule,
                &event,
                Origin {
                    scope: &scope.name,
                    src_pos: Some(&pos),
                    src_ts_ms: Some(metrics::now_ms()),
                    fence: lease.fence,
                },
                &mut pubs,
            );
            rooms.extend(pubs[before..].iter().map(|p| p.room.clone()));
            docs += 1;
        }
    }
    let reason = match error_code(cause) {
        Some(286) => "history_lost",
        Some(260) => "invalid_token",
        _ => "fatal_error",
    };
    let now = metrics::now_ms();
    let data = herald_protocol::JsonText::from_value(
        &serde_json::json!({ "scope": scope.name, "reason": reason, "docs": docs }),
    );
    // The signal first: a client that drops its state on it then receives
    // the fresh state, never the other way round.
    let mut ordered: Vec<Publication> = rooms
        .iter()
        .map(|room| Publication {
            room: room.clone(),
            event: RESYNC_EVENT.to_owned(),
            data: data.clone(),
            ts_ms: now,
            src_ts_ms: None,
            src: Some(scope.name.clone()),
            src_pos: Some(signal_pos(&t0)),
            fence: Some(lease.fence),
            set: None,
        })
        .collect();
    ordered.append(&mut pubs);
    ordered.extend(collection_resets(ctx, lease, &t0, known).await?);
    tracing::warn!(scope = %scope.name, docs, rooms = rooms.len(), reason, "resync: signal, then fresh state");
    let chunk = ctx.settings.batch_max.max(1);
    let mut pubs = ordered;
    while !pubs.is_empty() {
        let rest = pubs.split_off(pubs.len().min(chunk));
        ctx.publisher
            .publish(std::mem::replace(&mut pubs, rest), &lease.lost)
            .await?;
    }
    Ok((stream, t0))
}

/// One reset snapshot per live-collection room: every static room, the
/// rooms of templated ones that the collection's matching documents give
/// (at most `--resync-max-docs` read) and the rooms the leader had cached.
/// Each is rebuilt from the collection now (`find(filter).sort.limit`,
/// bounded) and published at `T0:0` as one `herald:snapshot` with
/// `reset: true` and `SetOp::Reset`, which replaces the stored set and the
/// clients' copies in one step.
async fn collection_resets(
    ctx: &ScopeCtx,
    lease: &Lease,
    t0: &str,
    known: &[(usize, String, Document)],
) -> Result<Vec<Publication>, ResyncError> {
    let s = ctx.settings.collection;
    let mut out = Vec::new();
    for (i, c) in ctx.scope.collections.iter().enumerate() {
        let mut rooms: BTreeMap<String, Document> = known
            .iter()
            .filter(|(k, _, _)| *k == i)
            .map(|(_, r, d)| (r.clone(), d.clone()))
            .collect();
        let fields: Vec<String> = c
            .room
            .fields()
            .filter_map(|f| f.strip_prefix("documentKey.").map(str::to_owned))
            .collect();
        if fields.is_empty() {
            if let Ok(r) = c.room.render(&RawDocumentBuf::new()) {
                rooms.insert(r.as_str().to_owned(), Document::new());
            }
        } else {
            let coll = ctx.mongo.database(&c.db).collection::<Document>(&c.coll);
            let mut cursor = coll
                .find(c.filter.clone())
                .limit(i64::try_from(ctx.settings.resync_max_docs).unwrap_or(i64::MAX))
                .await?;
            while let Some(d) = cursor.try_next().await? {
                let mut dk = Document::new();
                for f in &fields {
                    if let Some(v) = d.get(f) {
                        dk.insert(f.clone(), v.clone());
                    }
                }
                let Ok(ev) = RawDocumentBuf::from_document(&doc! { "documentKey": dk.clone() })
                else {
                    continue;
                };
                if let Ok(r) = c.room.render(&ev) {
                    rooms.insert(r.as_str().to_owned(), dk);
                }
            }
        }
        let pos = signal_pos(t0);
        for (room, constraint) in rooms {
            let fresh =
                query::window(&ctx.mongo, c, &constraint, s.max_docs, s.max_doc_bytes).await?;
            out.extend(publications(
                &room,
                &c.spec,
                vec![Out::Reset { docs: fresh }],
                Origin {
                    scope: &ctx.scope.name,
                    src_pos: Some(&pos),
                    src_ts_ms: Some(metrics::now_ms()),
                    fence: lease.fence,
                },
                0,
            ));
        }
    }
    Ok(out)
}

/// Why a resync did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    /// Publishing stopped (fenced or leadership ended).
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// MongoDB failed.
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The new stream reported no resume token.
    #[error("the new change stream has no resume token")]
    NoToken,
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::*;

    #[test]
    fn the_signal_sorts_before_the_documents_and_after_the_cut() {
        // The bus compares positions byte-wise.
        let t0 = "8265700000000000030000000000000001";
        let older = "8265700000000000020000000000000009";
        let newer = "8265700000000000040000000000000001";
        let docs: Vec<String> = (0..12).map(|i| doc_pos(t0, i)).collect();
        let signal = signal_pos(t0);
        assert!(older.as_bytes() < t0.as_bytes());
        assert!(t0.as_bytes() < signal.as_bytes());
        assert!(docs.iter().all(|d| signal.as_bytes() < d.as_bytes()));
        assert!(docs.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        assert!(docs.iter().all(|d| d.as_bytes() < newer.as_bytes()));
    }

    #[test]
    fn event_filters_become_document_filters() {
        let f = doc! {
            "fullDocument.status": "paid",
            "operationType": "insert",
            "documentKey._id": 3_i32,
            "$or": [{"fullDocument.a": 1_i32}, {"fullDocument.b": 2_i32}],
        };
        assert_eq!(
            find_filter(&f),
            doc! {"status": "paid", "_id": 3_i32, "$or": [{"a": 1_i32}, {"b": 2_i32}]}
        );
        // An $or branch that cannot be expressed widens to "everything".
        assert_eq!(
            find_filter(&doc! {"$or": [{"fullDocument.a": 1_i32}, {"updateDescription.x": 1_i32}]}),
            doc! {}
        );
    }
}
