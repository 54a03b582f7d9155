//! Cursor table entries, `getMore` and `killCursors`.

use super::change_streams::{self, StreamCursor};
use super::{as_i64, opt_i64};
use crate::error::{CmdResult, CommandError};
use crate::state::Shared;
use mongodb::bson::{Bson, Document, doc};
use std::collections::VecDeque;
use std::sync::Arc;

/// A server-side cursor.
#[derive(Debug)]
pub enum Cursor {
    /// Remaining results of a `find`.
    Find(FindCursor),
    /// A change stream.
    Stream(Box<StreamCursor>),
}

/// Remaining results of a `find`.
#[derive(Debug)]
pub struct FindCursor {
    /// `db.coll`.
    pub ns: String,
    /// Results not yet returned.
    pub docs: VecDeque<Document>,
}

/// Builds `{cursor: {id: Int64, ns, <batch_key>: [...], postBatchResumeToken?}}`.
pub(crate) fn cursor_reply(
    id: i64,
    ns: &str,
    batch_key: &str,
    batch: Vec<Bson>,
    pbrt: Option<Document>,
) -> Document {
    let mut c = doc! {"id": Bson::Int64(id), "ns": ns};
    c.insert(batch_key, batch);
    if let Some(t) = pbrt {
        c.insert("postBatchResumeToken", t);
    }
    doc! {"cursor": c}
}

fn not_found(id: i64) -> CommandError {
    CommandError::new(43, format!("cursor id {id} not found"))
}

pub(crate) async fn get_more(shared: &Arc<Shared>, _db: &str, body: &Document) -> CmdResult {
    let id = body
        .get("getMore")
        .and_then(as_i64)
        .ok_or_else(|| CommandError::new(14, "getMore id must be a number"))?;
    let batch_size = opt_i64(body, "batchSize")?
        .and_then(|b| usize::try_from(b).ok())
        .filter(|b| *b > 0);
    let max_time = opt_i64(body, "maxTimeMS")?;
    let entry = shared
        .cursors
        .lock()
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found(id))?;
    let mut cursor = entry.lock().await;
    let (ns, batch, pbrt, done) = match &mut *cursor {
        Cursor::Find(f) => {
            let n = batch_size.unwrap_or(usize::MAX).min(f.docs.len());
            let batch: Vec<Bson> = f.docs.drain(..n).map(Bson::Document).collect();
            (f.ns.clone(), batch, None, f.docs.is_empty())
        }
        Cursor::Stream(s) => {
            match change_streams::get_more(shared, s, batch_size, max_time).await {
                Ok(b) => (s.ns.clone(), b.events, Some(b.post_batch_token), b.closed),
                Err(e) => {
                    shared.cursors.lock().remove(&id);
                    return Err(e);
                }
            }
        }
    };
    drop(cursor);
    if done {
        shared.cursors.lock().remove(&id);
    }
    // A cursor killed while this getMore ran reports id 0.
    let live = !done && shared.cursors.lock().contains_key(&id);
    Ok(cursor_reply(
        if live { id } else { 0 },
        &ns,
        "nextBatch",
        batch,
        pbrt,
    ))
}

pub(crate) fn kill_cursors(shared: &Shared, body: &Document) -> CmdResult {
    let Some(Bson::Array(ids)) = body.get("cursors") else {
        return Err(CommandError::new(9, "'cursors' must be an array"));
    };
    let mut killed = Vec::new();
    let mut missing = Vec::new();
    let mut map = shared.cursors.lock();
    for id in ids.iter().filter_map(as_i64) {
        if map.remove(&id).is_some() {
            killed.push(Bson::Int64(id));
        } else {
            missing.push(Bson::Int64(id));
        }
    }
    Ok(
        doc! {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": []},
    )
}
