//! From a change event to publications (rules, templates, payloads), and
//! publishing a batch into the bus until it is accepted.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use herald_bus::BusError;
use herald_bus::redis::{Published, RedisBus};
use herald_protocol::JsonText;
use herald_protocol::bus::Publication;
use mongodb::bson::{Bson, RawBsonRef, RawDocument, RawDocumentBuf, doc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::as_json::{bson_text, document_text};
use crate::convert::{ConvertError, bson_to_json};
use crate::metrics;
use crate::rules::matcher::{lookup_owned, matches};
use crate::rules::{Op, Payload, Rule, Scope};

/// Where publications of one event come from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Scope name (the bus source).
    pub scope: &'a str,
    /// Source position (token hex); `None` publishes without replay detection.
    pub src_pos: Option<&'a str>,
    /// Commit time, Unix ms.
    pub src_ts_ms: Option<u64>,
    /// Fencing token.
    pub fence: u64,
}

/// The event's commit time: `wallTime`, else `clusterTime`, Unix ms.
pub fn event_time_ms(event: &RawDocument) -> Option<u64> {
    if let Ok(w) = event.get_datetime("wallTime") {
        return u64::try_from(w.timestamp_millis()).ok();
    }
    event
        .get_timestamp("clusterTime")
        .ok()
        .map(|t| u64::from(t.time) * 1000)
}

/// Publications for `event` from every rule of `scope` it matches, in rule
/// then room order. Rooms whose template fails are skipped and counted.
///
/// The event is read in place, as the driver returned it: rules, room
/// templates and the payload's JSON text all read its raw bytes.
pub fn route(scope: &Scope, event: &RawDocument, origin: Origin<'_>) -> Vec<Publication> {
    let Some(op) = event.get_str("operationType").ok().and_then(Op::parse) else {
        return Vec::new();
    };
    let (db, coll) = match event.get_document("ns") {
        Ok(ns) => (
            ns.get_str("db").unwrap_or(""),
            ns.get_str("coll").unwrap_or(""),
        ),
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for rule in &scope.rules {
        if rule.db == db && rule.coll == coll && rule.ops.contains(&op) {
            route_rule(rule, event, origin, &mut out);
        }
    }
    out
}

/// Publications for `event` from `rule` alone, if its filter matches.
pub fn route_rule(
    rule: &Rule,
    event: &RawDocument,
    origin: Origin<'_>,
    out: &mut Vec<Publication>,
) {
    if !rule.filter.is_empty() && !matches(event, &rule.filter) {
        return;
    }
    let data = match payload(rule, event) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(rule = %rule.name, error = %e, "event skipped: cannot convert");
            metrics::skipped("convert");
            return;
        }
    };
    let now = metrics::now_ms();
    for t in &rule.rooms {
        match t.render(event) {
            Ok(room) => out.push(Publication {
                room: room.as_str().to_owned(),
                event: rule.event.clone(),
                data: data.clone(),
                ts_ms: now,
                src_ts_ms: origin.src_ts_ms,
                src: Some(origin.scope.to_owned()),
                src_pos: origin.src_pos.map(str::to_owned),
                fence: Some(origin.fence),
                set: None,
            }),
            Err(e) => {
                tracing::debug!(rule = %rule.name, template = %t.source(), error = %e, "room skipped");
                metrics::skipped("room");
            }
        }
    }
}

fn payload(rule: &Rule, event: &RawDocument) -> Result<JsonText, ConvertError> {
    let get = |k: &str| event.get(k).ok().flatten();
    let is_delete = matches!(event.get_str("operationType"), Ok("delete"));
    match &rule.payload {
        Payload::FullDocument => match get("fullDocument") {
            Some(RawBsonRef::Document(d)) => document_text(d),
            _ => match get("fullDocumentBeforeChange") {
                Some(RawBsonRef::Document(d)) if is_delete => document_text(d),
                _ if is_delete => {
                    let id = lookup_owned(event, "documentKey._id").unwrap_or(Bson::Null);
                    let stub = RawDocumentBuf::from_document(&doc! { "_id": id, "_deleted": true })
                        .map_err(|e| ConvertError::Malformed(e.to_string()))?;
                    document_text(&stub)
                }
                _ => Ok(JsonText::null()),
            },
        },
        Payload::UpdateDescription => {
            get("updateDescription").map_or(Ok(JsonText::null()), bson_text)
        }
        Payload::Event => document_text(event),
        Payload::Project(paths) => {
            let Ok(full) = event.get_document("fullDocument") else {
                return Ok(JsonText::null());
            };
            let mut out = serde_json::Map::new();
            for p in paths {
                if let Some(v) = lookup_owned(full, p) {
                    insert_path(&mut out, p, bson_to_json(&v)?);
                }
            }
            Ok(JsonText::from_value(&Value::Object(out)))
        }
    }
}

fn insert_path(map: &mut serde_json::Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), v);
        }
        Some((head, rest)) => {
            let e = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Value::Object(m) = e {
                insert_path(m, rest, v);
            }
        }
    }
}

/// Why publishing stopped without success.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A newer leader's fence is in place: stop leading.
    #[error("fenced off: {0}")]
    Fenced(String),
    /// Leadership ended (lease lost or shutdown) while retrying.
    #[error("leadership ended while publishing")]
    Cancelled,
}

/// What became of one publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Stored (and, for a live collection, its set change applied).
    Stored,
    /// A replay of a stored source position: nothing was stored.
    Duplicate,
    /// Refused as invalid: nothing was stored.
    Refused,
}

/// Publishes into the Redis bus, retrying what Redis could not take.
pub struct Publisher {
    /// The bus.
    bus: Arc<RedisBus>,
}

impl Publisher {
    /// Over `bus`.
    pub fn new(bus: Arc<RedisBus>) -> Self {
        Self { bus }
    }

    /// The bus (live collections read their stored sets from it).
    pub fn bus(&self) -> &Arc<RedisBus> {
        &self.bus
    }

    /// Publishes `batch` in order; returns once every publication was stored
    /// or recognised as a replay. Unavailability is retried (with capped
    /// backoff) as a whole batch: already stored entries come back as
    /// duplicates. Invalid publications are skipped and counted.
    ///
    /// # Errors
    /// [`PublishError::Fenced`] on a stale fence, [`PublishError::Cancelled`]
    /// when `stop` fires while retrying.
    pub async fn publish(
        &self,
        batch: Vec<Publication>,
        stop: &CancellationToken,
    ) -> Result<(), PublishError> {
        self.publish_fates(batch, stop).await.map(|_| ())
    }

    /// As [`Publisher::publish`], and says what became of each publication,
    /// in batch order.
    ///
    /// # Errors
    /// As [`Publisher::publish`].
    pub async fn publish_fates(
        &self,
        batch: Vec<Publication>,
        stop: &CancellationToken,
    ) -> Result<Vec<Fate>, PublishError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut fates = Vec::with_capacity(batch.len());
        let mut pending = batch;
        loop {
            let results = self.bus.publish_detailed(pending.clone()).await;
            let mut retry = Vec::new();
            let mut results = results.into_iter();
            let mut items = pending.into_iter();
            for (p, r) in items.by_ref().zip(results.by_ref()) {
                match r {
                    Ok(Published::Stored(_)) => fates.push(Fate::Stored),
                    Ok(Published::Duplicate(_)) => {
                        ::metrics::counter!(metrics::DUPLICATES_TOTAL).increment(1);
                        fates.push(Fate::Duplicate);
                    }
                    Err(BusError::Rejected(m)) => return Err(PublishError::Fenced(m)),
                    Err(BusError::Invalid(m)) => {
                        tracing::warn!(room = %p.room, error = %m, "publication skipped");
                        metrics::skipped("bus_invalid");
                        fates.push(Fate::Refused);
                    }
                    Err(e @ BusError::Unavailable { .. }) => {
                        // Resend this one and everything after it, so a room
                        // never stores a later change before an earlier one
                        // (the later ones come back as duplicates).
                        tracing::warn!(error = %e.chain(), "bus unavailable; retrying");
                        retry.push(p);
                        break;
                    }
                }
            }
            retry.extend(items);
            if retry.is_empty() {
                ::metrics::histogram!(metrics::PUBLISH_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                return Ok(fates);
            }
            pending = retry;
            tokio::select! {
                () = stop.cancelled() => return Err(PublishError::Cancelled),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}
