//! `aggregate` with a leading `$changeStream` stage, and change stream batches.

use super::cursors::{Cursor, cursor_reply};
use super::{as_i64, opt_bool, opt_doc};
use crate::error::{CmdResult, CommandError};
use crate::matcher::matches;
use crate::oplog::{Entry, HistoryLost, Namespace, OpKind};
use crate::projection::Projection;
use crate::state::{Db, Shared};
use crate::token::{ResumeToken, TokenKind};
use crate::wire::MAX_BSON_OBJECT_SIZE;
use mongodb::bson::{Bson, Document, doc};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Default `getMore` wait when the client sends no `maxTimeMS`.
const DEFAULT_AWAIT: Duration = Duration::from_millis(1000);
/// Cap on events per batch when the client sends no `batchSize`.
const MAX_EVENTS_PER_BATCH: usize = 10_000;
/// Room left in a 16 MiB reply for the envelope.
const BATCH_BYTES: usize = MAX_BSON_OBJECT_SIZE - 64 * 1024;

/// What a stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One collection (`aggregate: "coll"`).
    Collection(String, String),
    /// One database (`aggregate: 1`).
    Database(String),
    /// Everything (`admin` + `allChangesForCluster`).
    Cluster,
}

impl Scope {
    fn sees(&self, ns: &Namespace) -> bool {
        match self {
            Self::Collection(db, coll) => &ns.db == db && ns.coll.as_deref() == Some(coll.as_str()),
            Self::Database(db) => &ns.db == db,
            Self::Cluster => true,
        }
    }

    fn invalidated_by(&self, e: &Entry) -> bool {
        match self {
            Self::Collection(..) => {
                matches!(e.change.op, OpKind::Drop | OpKind::Rename) && self.sees(&e.change.ns)
            }
            Self::Database(db) => e.change.op == OpKind::DropDatabase && &e.change.ns.db == db,
            Self::Cluster => false,
        }
    }
}

/// `fullDocument` / `fullDocumentBeforeChange` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageMode {
    /// Not included (`default` / `off`).
    Off,
    /// Current document looked up at read time (`updateLookup`).
    Lookup,
    /// Image recorded at write time (`whenAvailable` / `required`).
    Recorded,
}

/// A change stream cursor.
#[derive(Debug)]
pub struct StreamCursor {
    /// Cursor namespace reported in replies.
    pub ns: String,
    scope: Scope,
    full_document: ImageMode,
    before_change: ImageMode,
    filters: Vec<Document>,
    projection: Option<Projection>,
    /// `showExpandedEvents`: updates carry `disambiguatedPaths`.
    expanded: bool,
    /// Sequence number of the last oplog entry scanned.
    after_seq: u64,
    /// A drop/rename seen at resume time whose invalidate is still owed.
    pending_invalidate: Option<Arc<Entry>>,
}

/// One batch of events.
#[derive(Debug)]
pub struct Batch {
    /// Event documents.
    pub events: Vec<Bson>,
    /// `postBatchResumeToken`.
    pub post_batch_token: Document,
    /// The stream was invalidated; the cursor is closed.
    pub closed: bool,
}

fn lost() -> CommandError {
    CommandError {
        code: 286,
        message: "Resume of change stream was not possible, as the resume point may no longer be in the oplog.".into(),
        labels: vec!["NonResumableChangeStreamError".into()],
    }
}

fn invalid_token(msg: impl Into<String>) -> CommandError {
    CommandError::new(260, msg)
}

impl From<HistoryLost> for CommandError {
    fn from(_: HistoryLost) -> Self {
        lost()
    }
}

fn image_mode(
    opts: &Document,
    key: &str,
    allowed: &[(&str, ImageMode)],
) -> Result<ImageMode, CommandError> {
    match opts.get(key) {
        None | Some(Bson::Null) => Ok(ImageMode::Off),
        Some(Bson::String(s)) => allowed
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| CommandError::bad_value(format!("unsupported {key}: {s}"))),
        Some(_) => Err(CommandError::new(14, format!("{key} must be a string"))),
    }
}

pub(crate) fn aggregate(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let Some(Bson::Array(pipeline)) = body.get("pipeline") else {
        return Err(CommandError::new(14, "'pipeline' must be an array"));
    };
    let stages: Vec<&Document> = pipeline.iter().filter_map(|s| s.as_document()).collect();
    if stages.len() != pipeline.len() {
        return Err(CommandError::new(14, "pipeline stages must be objects"));
    }
    let Some(opts) = stages
        .first()
        .and_then(|s| s.get_document("$changeStream").ok())
    else {
        return Err(CommandError::bad_value(
            "herald-mongo-wire only supports $changeStream aggregations",
        ));
    };
    let cluster = opt_bool(opts, "allChangesForCluster").unwrap_or(false);
    let scope = match (body.get("aggregate"), cluster) {
        (Some(Bson::String(c)), false) => Scope::Collection(db.to_owned(), c.clone()),
        (Some(v), true) if as_i64(v) == Some(1) && db == "admin" => Scope::Cluster,
        (Some(v), false) if as_i64(v) == Some(1) && db != "admin" => Scope::Database(db.to_owned()),
        _ => {
            return Err(CommandError::bad_value(
                "$changeStream needs aggregate: \"coll\", aggregate: 1, or admin with allChangesForCluster",
            ));
        }
    };
    let mut filters = Vec::new();
    let mut projection = None;
    for stage in &stages[1..] {
        let (name, arg) = stage
            .iter()
            .next()
            .ok_or_else(|| CommandError::bad_value("empty stage"))?;
        match (name.as_str(), arg) {
            ("$match", Bson::Document(f)) => {
                matches(&Document::new(), f)?;
                filters.push(f.clone());
            }
            ("$project", Bson::Document(p)) => projection = Some(Projection::parse(p)?),
            ("$unset", Bson::String(f)) => projection = Some(Projection::parse(&doc! {f: 0})?),
            _ => {
                return Err(CommandError::bad_value(format!(
                    "unsupported change stream stage {name}"
                )));
            }
        }
    }
    let full_document = image_mode(
        opts,
        "fullDocument",
        &[
            ("default", ImageMode::Off),
            ("updateLookup", ImageMode::Lookup),
            ("whenAvailable", ImageMode::Recorded),
            ("required", ImageMode::Recorded),
        ],
    )?;
    let before_change = image_mode(
        opts,
        "fullDocumentBeforeChange",
        &[
            ("off", ImageMode::Off),
            ("whenAvailable", ImageMode::Recorded),
            ("required", ImageMode::Recorded),
        ],
    )?;
    let ns = match &scope {
        Scope::Collection(d, c) => format!("{d}.{c}"),
        Scope::Database(d) => format!("{d}.$cmd.aggregate"),
        Scope::Cluster => "admin.$cmd.aggregate".to_owned(),
    };
    let first_limit = opt_doc(body, "cursor")?
        .and_then(|c| c.get("batchSize"))
        .and_then(as_i64)
        .map(|b| usize::try_from(b.max(0)).unwrap_or(0));
    let mut guard = shared.db.lock();
    let db_state: &mut Db = &mut guard;
    let mut cursor = StreamCursor {
        ns,
        scope,
        full_document,
        before_change,
        filters,
        projection,
        expanded: opt_bool(opts, "showExpandedEvents").unwrap_or(false),
        after_seq: 0,
        pending_invalidate: None,
    };
    cursor.after_seq = start_position(&mut cursor, opts, db_state)?;
    let op_time = db_state.oplog.now();
    let batch = cursor.poll(db_state, first_limit.unwrap_or(MAX_EVENTS_PER_BATCH))?;
    drop(guard);
    let id = if batch.closed {
        0
    } else {
        shared
            .add_cursor(Cursor::Stream(Box::new(cursor)))
            .ok_or_else(|| CommandError::new(2, "too many open cursors"))?
    };
    let ns = match body.get("aggregate") {
        Some(Bson::String(c)) => format!("{db}.{c}"),
        _ => format!("{db}.$cmd.aggregate"),
    };
    let mut reply = cursor_reply(
        id,
        &ns,
        "firstBatch",
        batch.events,
        Some(batch.post_batch_token),
    );
    reply.insert("operationTime", Bson::Timestamp(op_time));
    Ok(reply)
}

fn token_arg(opts: &Document, key: &str) -> Result<Option<ResumeToken>, CommandError> {
    match opts.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => ResumeToken::from_doc(d)
            .map(Some)
            .map_err(|e| invalid_token(e.to_string())),
        Some(_) => Err(invalid_token(format!(
            "{key} must be a resume token document"
        ))),
    }
}

/// The sequence number after which the stream starts.
fn start_position(c: &mut StreamCursor, opts: &Document, db: &mut Db) -> Result<u64, CommandError> {
    let resume_after = token_arg(opts, "resumeAfter")?;
    let start_after = token_arg(opts, "startAfter")?;
    let at_time = opts.get("startAtOperationTime");
    let given = usize::from(resume_after.is_some())
        + usize::from(start_after.is_some())
        + usize::from(at_time.is_some());
    if given > 1 {
        return Err(CommandError::new(
            40674,
            "only one of resumeAfter, startAfter and startAtOperationTime may be given",
        ));
    }
    if let Some(t) = at_time {
        let Bson::Timestamp(ts) = t else {
            return Err(CommandError::new(
                14,
                "startAtOperationTime must be a timestamp",
            ));
        };
        return Ok(db.oplog.position_at(*ts)?);
    }
    let Some(tok) = resume_after.or(start_after) else {
        return Ok(db.oplog.last_seq());
    };
    if tok.kind == TokenKind::Invalidate && resume_after.is_some() {
        return Err(invalid_token(
            "cannot resume a change stream after an invalidate event with resumeAfter; use startAfter",
        ));
    }
    if tok.seq > db.oplog.last_seq() {
        return Err(lost());
    }
    db.oplog.check_after(tok.seq)?;
    if let Some(e) = db.oplog.get(tok.seq) {
        if tok.kind != TokenKind::HighWater && e.ts != tok.ts {
            return Err(lost());
        }
        if tok.kind == TokenKind::Event && c.scope.invalidated_by(e) {
            c.pending_invalidate = Some(e.clone());
        }
    }
    Ok(tok.seq)
}

fn ns_doc(ns: &Namespace) -> Document {
    let mut d = doc! {"db": &ns.db};
    if let Some(c) = &ns.coll {
        d.insert("coll", c);
    }
    d
}

fn invalidate_doc(e: &Entry) -> (Document, ResumeToken) {
    let tok = ResumeToken {
        ts: e.ts,
        seq: e.seq,
        kind: TokenKind::Invalidate,
    };
    (
        doc! {"_id": tok.to_doc(), "operationType": "invalidate", "clusterTime": e.ts, "wallTime": e.wall},
        tok,
    )
}

impl StreamCursor {
    fn event_doc(&self, e: &Entry, db: &Db) -> Document {
        let ch = &e.change;
        let mut d = doc! {"_id": e.token().to_doc(), "operationType": ch.op.name(), "clusterTime": e.ts, "wallTime": e.wall};
        let full = match (ch.op, self.full_document) {
            (OpKind::Insert | OpKind::Replace, _) => {
                Some(ch.post_image.clone().map_or(Bson::Null, Bson::Document))
            }
            // Post-images exist only where the collection had
            // changeStreamPreAndPostImages enabled at the write.
            (OpKind::Update, ImageMode::Recorded) => Some(
                ch.post_image
                    .clone()
                    .filter(|_| ch.images)
                    .map_or(Bson::Null, Bson::Document),
            ),
            (OpKind::Update, ImageMode::Lookup) => {
                let id = ch.document_key.as_ref().and_then(|k| k.get("_id"));
                let current = match (&ch.ns.coll, id) {
                    (Some(coll), Some(id)) => db
                        .store
                        .get(&ch.ns.db, coll)
                        .and_then(|c| c.get(id))
                        .cloned(),
                    _ => None,
                };
                Some(current.map_or(Bson::Null, Bson::Document))
            }
            _ => None,
        };
        if let Some(f) = full {
            d.insert("fullDocument", f);
        }
        d.insert("ns", ns_doc(&ch.ns));
        if let Some(to) = &ch.to {
            d.insert("to", ns_doc(to));
        }
        if let Some(k) = &ch.document_key {
            d.insert("documentKey", k.clone());
        }
        if let Some(u) = &ch.update_description {
            let mut u = u.clone();
            if let (true, Some(amb)) = (self.expanded, &ch.disambiguated) {
                u.insert("disambiguatedPaths", amb.clone());
            }
            d.insert("updateDescription", u);
        }
        if self.before_change != ImageMode::Off
            && matches!(ch.op, OpKind::Update | OpKind::Replace | OpKind::Delete)
        {
            d.insert(
                "fullDocumentBeforeChange",
                ch.pre_image
                    .clone()
                    .filter(|_| ch.images)
                    .map_or(Bson::Null, Bson::Document),
            );
        }
        d
    }

    fn wanted(&self, d: &Document) -> Result<bool, CommandError> {
        for f in &self.filters {
            if !matches(d, f)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads what is available now, without waiting.
    fn poll(&mut self, db: &mut Db, limit: usize) -> Result<Batch, CommandError> {
        if let Some(e) = self.pending_invalidate.take() {
            let (d, tok) = invalidate_doc(&e);
            return Ok(Batch {
                events: vec![Bson::Document(d)],
                post_batch_token: tok.to_doc(),
                closed: true,
            });
        }
        db.oplog.check_after(self.after_seq)?;
        let mut events = Vec::new();
        let mut bytes = 0usize;
        let mut last_token = None;
        let entries: Vec<Arc<Entry>> = db.oplog.after(self.after_seq).cloned().collect();
        for e in entries {
            if events.len() >= limit {
                break;
            }
            if !self.scope.sees(&e.change.ns) {
                self.after_seq = e.seq;
                continue;
            }
            let d = self.event_doc(&e, db);
            if self.wanted(&d)? {
                let d = match &self.projection {
                    Some(p) => p.apply(&d),
                    None => d,
                };
                if !d.contains_key("_id") {
                    return Err(CommandError::new(
                        280,
                        "the change stream's resume token (_id) was projected out",
                    ));
                }
                let size = bson_len(&d);
                if size > MAX_BSON_OBJECT_SIZE {
                    return Err(CommandError::new(
                        10334,
                        "change event exceeds the maximum BSON size",
                    ));
                }
                if bytes + size > BATCH_BYTES && !events.is_empty() {
                    break;
                }
                bytes += size;
                events.push(Bson::Document(d));
                last_token = Some(e.token());
            }
            self.after_seq = e.seq;
            if self.scope.invalidated_by(&e) {
                let (d, tok) = invalidate_doc(&e);
                events.push(Bson::Document(d));
                return Ok(Batch {
                    events,
                    post_batch_token: tok.to_doc(),
                    closed: true,
                });
            }
        }
        let token = if self.after_seq == db.oplog.last_seq() {
            db.oplog.high_water(self.after_seq)
        } else {
            last_token.unwrap_or_else(|| db.oplog.high_water(self.after_seq))
        };
        Ok(Batch {
            events,
            post_batch_token: token.to_doc(),
            closed: false,
        })
    }
}

fn bson_len(d: &Document) -> usize {
    let mut v = Vec::new();
    d.to_writer(&mut v).map_or(usize::MAX, |()| v.len())
}

/// A `getMore` on a change stream: returns as soon as events are available, or
/// after `maxTimeMS` (default 1 s) with an empty batch and a fresh high-water mark.
pub(crate) async fn get_more(
    shared: &Shared,
    c: &mut StreamCursor,
    batch_size: Option<usize>,
    max_time_ms: Option<i64>,
) -> Result<Batch, CommandError> {
    let wait = max_time_ms.map_or(DEFAULT_AWAIT, |ms| {
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    });
    let deadline = Instant::now() + wait;
    let limit = batch_size.unwrap_or(MAX_EVENTS_PER_BATCH);
    let mut changed = shared.oplog_changed.subscribe();
    loop {
        changed.borrow_and_update();
        let batch = c.poll(&mut shared.db.lock(), limit)?;
        if !batch.events.is_empty() || batch.closed {
            return Ok(batch);
        }
        match tokio::time::timeout_at(deadline, changed.changed()).await {
            Ok(Ok(())) => {}
            _ => return c.poll(&mut shared.db.lock(), limit),
        }
    }
}
