//! From a change event to publications (rules, templates, payloads), and
//! publishing a batch into the bus until it is accepted.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use herald_bus::BusError;
use herald_bus::redis::{Published, RedisBus};
use herald_protocol::bus::Publication;
use mongodb::bson::{Bson, Document, doc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::convert::{ConvertError, bson_to_json, document_to_json};
use crate::metrics;
use crate::rules::matcher::{lookup, matches};
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
pub fn event_time_ms(event: &Document) -> Option<u64> {
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
pub fn route(scope: &Scope, event: &Document, origin: Origin<'_>) -> Vec<Publication> {
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
pub fn route_rule(rule: &Rule, event: &Document, origin: Origin<'_>, out: &mut Vec<Publication>) {
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
            }),
            Err(e) => {
                tracing::debug!(rule = %rule.name, template = %t.source(), error = %e, "room skipped");
                metrics::skipped("room");
            }
        }
    }
}

fn payload(rule: &Rule, event: &Document) -> Result<Value, ConvertError> {
    match &rule.payload {
        Payload::FullDocument => match event.get("fullDocument") {
            Some(Bson::Document(d)) => document_to_json(d),
            _ => match event.get("fullDocumentBeforeChange") {
                Some(Bson::Document(d))
                    if matches!(event.get_str("operationType"), Ok("delete")) =>
                {
                    document_to_json(d)
                }
                _ if matches!(event.get_str("operationType"), Ok("delete")) => {
                    let id = event
                        .get_document("documentKey")
                        .ok()
                        .and_then(|k| k.get("_id"))
                        .cloned()
                        .unwrap_or(Bson::Null);
                    document_to_json(&doc! { "_id": id, "_deleted": true })
                }
                _ => Ok(Value::Null),
            },
        },
        Payload::UpdateDescription => event
            .get("updateDescription")
            .map_or(Ok(Value::Null), bson_to_json),
        Payload::Event => document_to_json(event),
        Payload::Project(paths) => {
            let Ok(full) = event.get_document("fullDocument") else {
                return Ok(Value::Null);
            };
            let mut out = serde_json::Map::new();
            for p in paths {
                if let Some(v) = lookup(full, p) {
                    insert_path(&mut out, p, bson_to_json(v)?);
                }
            }
            Ok(Value::Object(out))
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
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut pending = batch;
        loop {
            let results = self.bus.publish_detailed(pending.clone()).await;
            let mut retry = Vec::new();
            let mut results = results.into_iter();
            let mut items = pending.into_iter();
            for (p, r) in items.by_ref().zip(results.by_ref()) {
                match r {
                    Ok(Published::Stored(_)) => {}
                    Ok(Published::Duplicate(_)) => {
                        ::metrics::counter!(metrics::DUPLICATES_TOTAL).increment(1);
                    }
                    Err(BusError::Rejected(m)) => return Err(PublishError::Fenced(m)),
                    Err(BusError::Invalid(m)) => {
                        tracing::warn!(room = %p.room, error = %m, "publication skipped");
                        metrics::skipped("bus_invalid");
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
                return Ok(());
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
