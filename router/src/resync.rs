//! Resync: the stream's position is gone (history lost, invalid token), so
//! rebuild the rooms' state from the collections and start from now.
//!
//! 1. Open a new stream from now; its first token `T0` marks the cut.
//! 2. For each rule, `find` the documents its filter selects (the filter's
//!    `fullDocument.*` and `documentKey._id` conditions, applied to the
//!    documents), at most `--resync-max-docs` per scope, and publish each as
//!    if it had just been inserted (`src_pos` = `T0:<seq>`, after every old
//!    position and before every new one).
//! 3. Publish an event `herald:resync` (data `{"scope","reason","docs"}`) to
//!    every room that got a document: clients drop their state for the room
//!    and take what follows (or a fresh subscribe) as the new snapshot.
//! 4. The caller checkpoints `T0` and reads on from the new stream.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use herald_protocol::bus::Publication;
use mongodb::bson::{Bson, Document, doc};

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

/// Runs a resync for `ctx`'s scope; returns the new stream and its token.
///
/// # Errors
/// [`PublishError`] when publishing stopped; other failures (MongoDB) come
/// back as [`PublishError::Cancelled`]-free `Other`.
pub async fn resync(
    ctx: &ScopeCtx,
    lease: &Lease,
    cause: &mongodb::error::Error,
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
            let pos = format!("{t0}:{docs:010}");
            let before = pubs.len();
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
    let signal_pos = format!("{t0}:~");
    let now = metrics::now_ms();
    for room in &rooms {
        pubs.push(Publication {
            room: room.clone(),
            event: RESYNC_EVENT.to_owned(),
            data: serde_json::json!({ "scope": scope.name, "reason": reason, "docs": docs }),
            ts_ms: now,
            src_ts_ms: None,
            src: Some(scope.name.clone()),
            src_pos: Some(signal_pos.clone()),
            fence: Some(lease.fence),
        });
    }
    tracing::warn!(scope = %scope.name, docs, rooms = rooms.len(), reason, "resync: publishing fresh state");
    let chunk = ctx.settings.batch_max.max(1);
    while !pubs.is_empty() {
        let rest = pubs.split_off(pubs.len().min(chunk));
        ctx.publisher
            .publish(std::mem::replace(&mut pubs, rest), &lease.lost)
            .await?;
    }
    Ok((stream, t0))
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
