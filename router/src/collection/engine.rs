//! The leader's live-collection state and its handling of each change
//! event, in stream order.
//!
//! Per room the engine keeps the set's members (key text → document). The
//! leader is the rooms' single writer, so the cache is the stored set plus
//! what this leader published. It is loaded with `read_set` on first touch
//! and **untrusted** until a publication of this leader for the room is
//! stored: while untrusted (right after a start, when the stream replays
//! events the stored set may already hold), an event's publications go to
//! the bus at once, on their own, and the cache takes the change only if
//! every one of them was stored (a replay comes back `Duplicate` and the
//! cache stays as loaded). Once trusted, publications join the batch. A
//! room whose publication comes back `Duplicate` or refused is dropped (to
//! reload); so is everything at a lease change (a new engine per lead) or
//! after a resync. At most `--collection-cache-rooms` rooms are kept: after
//! each batch the least recently used go.

use std::collections::HashMap;
use std::time::Duration;

use herald_bus::Bus;
use herald_protocol::RoomName;
use herald_protocol::bus::Publication;
use herald_protocol::collection::apply::patched;
use herald_protocol::collection::{key_text, path};
use mongodb::bson::{Document, RawBsonRef, RawDocument};
use serde_json::Value;

use super::doc::{matches, project};
use super::patch::{from_update_description, project_patch, touched};
use super::publication::publications;
use super::query;
use super::window::{Members, Out, place, reconcile};
use crate::convert::{bson_to_json, document_to_json};
use crate::lease::Lease;
use crate::metrics;
use crate::publish::{Fate, Origin, PublishError};
use crate::rules::Collection;
use crate::scope::ScopeCtx;

/// One cached room.
struct RoomState {
    /// Index of its collection in the scope.
    coll: usize,
    /// The room's `documentKey` field values, as a document filter.
    constraint: Document,
    /// Its members.
    members: Members,
    /// Whether the cache is the stored set plus this leader's pending
    /// publications (see the module doc).
    trusted: bool,
    /// Last use, for eviction.
    used: u64,
}

/// The live collections of one scope while this router leads it.
#[derive(Default)]
pub struct Engine {
    /// Cached rooms by name.
    rooms: HashMap<String, RoomState>,
    /// Use counter.
    tick: u64,
}

/// Where the engine reads and publishes.
pub struct Env<'a> {
    /// The scope.
    pub ctx: &'a ScopeCtx,
    /// The lease (fence, loss).
    pub lease: &'a Lease,
}

/// The `documentKey` fields a room template reads, as a document filter
/// (`documentKey.tenant` → `{tenant: value}`).
fn constraint_of(c: &Collection, event: &RawDocument) -> Document {
    let mut d = Document::new();
    for f in c.room.fields() {
        if let (Some(p), Some(v)) = (
            f.strip_prefix("documentKey."),
            crate::rules::matcher::lookup_owned(event, f),
        ) {
            d.insert(p, v);
        }
    }
    d
}

fn raw_json(d: &RawDocument) -> Option<Value> {
    let doc = Document::try_from(d).ok()?;
    document_to_json(&doc).ok()
}

fn json_size(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

impl Engine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every room (after a resync).
    pub fn clear(&mut self) {
        self.rooms.clear();
    }

    /// The rooms it holds: collection index, room, `documentKey` constraint.
    pub fn known_rooms(&self) -> Vec<(usize, String, Document)> {
        self.rooms
            .iter()
            .map(|(r, s)| (s.coll, r.clone(), s.constraint.clone()))
            .collect()
    }

    /// After a batch was published: drops rooms whose publications were
    /// not all stored, then the least recently used rooms over `cap`.
    pub fn settle(&mut self, fates: &[(String, Fate)], cap: usize) {
        for (room, fate) in fates {
            if *fate != Fate::Stored && self.rooms.remove(room).is_some() {
                tracing::debug!(room = %room, ?fate, "live collection reloads");
            }
        }
        if self.rooms.len() > cap {
            let mut by_use: Vec<(u64, String)> = self
                .rooms
                .iter()
                .map(|(r, s)| (s.used, r.clone()))
                .collect();
            by_use.sort();
            let over = self.rooms.len() - cap;
            for (_, r) in by_use.into_iter().take(over) {
                self.rooms.remove(&r);
            }
        }
    }

    /// Handles one change event for every live collection of its
    /// namespace; publications of trusted rooms are appended to `pubs`.
    ///
    /// # Errors
    /// [`PublishError`] when leadership ended or a newer fence is in place.
    pub async fn handle(
        &mut self,
        env: &Env<'_>,
        event: &RawDocument,
        origin: Origin<'_>,
        pubs: &mut Vec<Publication>,
    ) -> Result<(), PublishError> {
        let (db, coll) = match event.get_document("ns") {
            Ok(ns) => (
                ns.get_str("db").unwrap_or(""),
                ns.get_str("coll").unwrap_or(""),
            ),
            Err(_) => return Ok(()),
        };
        let Ok(op) = event.get_str("operationType") else {
            return Ok(());
        };
        for (i, c) in env.ctx.scope.collections.iter().enumerate() {
            if c.db != db || c.coll != coll {
                continue;
            }
            let room = match c.room.render(event) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(collection = %c.name, error = %e, "room skipped");
                    metrics::skipped("room");
                    continue;
                }
            };
            self.one(env, i, c, &room, op, event, origin, pubs).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn one(
        &mut self,
        env: &Env<'_>,
        i: usize,
        c: &Collection,
        room: &RoomName,
        op: &str,
        event: &RawDocument,
        origin: Origin<'_>,
        pubs: &mut Vec<Publication>,
    ) -> Result<(), PublishError> {
        let mut outs = Vec::new();
        let name = room.as_str().to_owned();
        if !self.rooms.contains_key(&name) {
            let constraint = constraint_of(c, event);
            let (members, reset) = load(env, c, room, &constraint).await?;
            outs.extend(reset);
            self.rooms.insert(
                name.clone(),
                RoomState {
                    coll: i,
                    constraint,
                    members,
                    trusted: false,
                    used: 0,
                },
            );
        }
        self.tick += 1;
        let Some(st) = self.rooms.get_mut(&name) else {
            return Ok(());
        };
        st.used = self.tick;
        let trusted = st.trusted;
        let mut work = if trusted {
            std::mem::take(&mut st.members)
        } else {
            st.members.clone()
        };
        let constraint = st.constraint.clone();
        let changed = change(env, c, op, event, &mut work, &constraint).await;
        let changed = match changed {
            Ok(o) => o,
            Err(e) => {
                if trusted {
                    if let Some(st) = self.rooms.get_mut(&name) {
                        st.members = work;
                    }
                }
                return Err(e);
            }
        };
        outs.extend(changed);
        let batch = publications(&name, &c.spec, outs, origin, 0);
        if trusted {
            if let Some(st) = self.rooms.get_mut(&name) {
                st.members = work;
            }
            pubs.extend(batch);
            return Ok(());
        }
        if batch.is_empty() {
            return Ok(());
        }
        let fates = env
            .ctx
            .publisher
            .publish_fates(batch, &env.lease.lost)
            .await?;
        if fates.iter().all(|f| *f == Fate::Stored) {
            if let Some(st) = self.rooms.get_mut(&name) {
                st.members = work;
                st.trusted = true;
            }
        } else {
            // A replay (the stored set already holds this event) or a
            // refusal: reload before the next event.
            self.rooms.remove(&name);
        }
        Ok(())
    }
}

/// Retries `f` until it succeeds (capped backoff, 100 ms to 5 s) or
/// leadership ends.
async fn retry<T, E, F, Fut>(env: &Env<'_>, what: &str, mut f: F) -> Result<T, PublishError>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(), "live collection: {what} failed; retrying")
            }
        }
        tokio::select! {
            () = env.lease.lost.cancelled() => return Err(PublishError::Cancelled),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Loads a room's stored set. A set of another shape (the rules changed)
/// is rebuilt from the collection: the members come from the window query
/// and a reset snapshot leads the event's publications.
async fn load(
    env: &Env<'_>,
    c: &Collection,
    room: &RoomName,
    constraint: &Document,
) -> Result<(Members, Option<Out>), PublishError> {
    let bus = env.ctx.publisher.bus().clone();
    let stored = retry(env, "reading the stored set", || bus.read_set(room)).await?;
    match stored {
        Some(set) if set.spec == c.spec => {
            let mut members = Members::new();
            for (k, d) in set.docs {
                match serde_json::from_slice::<Value>(d.as_bytes()) {
                    Ok(v) => {
                        members.insert(k, v);
                    }
                    Err(e) => {
                        tracing::warn!(room = %room, key = %k, error = %e, "unreadable stored member ignored")
                    }
                }
            }
            Ok((members, None))
        }
        None => Ok((Members::new(), None)),
        Some(set) => {
            tracing::warn!(room = %room, stored = ?set.spec, rule = ?c.spec, "stored set has another shape; rebuilding it");
            let fresh = rebuild(env, c, constraint).await?;
            let members: Members = fresh.iter().cloned().collect();
            Ok((members, Some(Out::Reset { docs: fresh })))
        }
    }
}

/// The room's window from the collection now (bounded).
///
/// # Errors
/// [`PublishError::Cancelled`] when leadership ended while retrying.
pub async fn rebuild(
    env: &Env<'_>,
    c: &Collection,
    constraint: &Document,
) -> Result<Vec<(String, Value)>, PublishError> {
    let s = env.ctx.settings.collection;
    retry(env, "the window query", || {
        query::window(&env.ctx.mongo, c, constraint, s.max_docs, s.max_doc_bytes)
    })
    .await
}

/// The member's key text for the event's document: by `documentKey`
/// when it carries the key, else by `_id` among the members.
fn member_key(c: &Collection, members: &Members, event: &RawDocument) -> Option<String> {
    let dk = event.get_document("documentKey").ok()?;
    let from_dk = |p: &str| {
        crate::rules::matcher::lookup_owned(dk, p)
            .and_then(|b| bson_to_json(&b).ok())
            .map(|v| key_text(&v))
    };
    if let Some(k) = from_dk(&c.spec.key) {
        return members.contains_key(&k).then_some(k);
    }
    let id = crate::rules::matcher::lookup_owned(dk, "_id").and_then(|b| bson_to_json(&b).ok())?;
    members
        .iter()
        .find(|(_, d)| path::get_dotted(d, "_id") == Some(&id))
        .map(|(k, _)| k.clone())
}

/// What the event does to `members` (mutated in place), as changes to
/// publish.
async fn change(
    env: &Env<'_>,
    c: &Collection,
    op: &str,
    event: &RawDocument,
    members: &mut Members,
    constraint: &Document,
) -> Result<Vec<Out>, PublishError> {
    let settings = env.ctx.settings.collection;
    let old = member_key(c, members, event);
    let full = || match event.get("fullDocument") {
        Ok(Some(RawBsonRef::Document(d))) => raw_json(d).map(|v| project(v, c.project.as_deref())),
        _ => None,
    };
    // The document's new state and, for a member, the change as a patch.
    let (new, patch) = match op {
        "insert" | "replace" => match full() {
            Some(d) => (Some(d), None),
            None => {
                metrics::skipped("convert");
                return Ok(Vec::new());
            }
        },
        "delete" => (None, None),
        "update" => {
            let ud = match event.get_document("updateDescription") {
                Ok(ud) => from_update_description(ud).ok(),
                Err(_) => None,
            };
            let projected = ud.map(|p| project_patch(p, c.project.as_deref()));
            let applied = match (&old, &projected) {
                // Exact at the event: the cached member with the change applied.
                (Some(k), Some(p)) => members.get(k).and_then(|m| patched(m, p).ok()),
                _ => None,
            };
            match applied {
                Some(d) => (Some(d), projected),
                None => match full() {
                    Some(d) => (Some(d), None),
                    None => {
                        let untouched = old.is_none()
                            && projected.as_ref().is_some_and(|p| {
                                !touched(p).iter().any(|t| c.touches_membership(t))
                            });
                        if untouched {
                            // Not a member, and nothing that decides
                            // membership changed: it stays out.
                            return Ok(Vec::new());
                        }
                        let Ok(dk) = event.get_document("documentKey") else {
                            return Ok(Vec::new());
                        };
                        let Ok(dk) = Document::try_from(dk) else {
                            return Ok(Vec::new());
                        };
                        let found = retry(env, "find by key", || {
                            query::by_key(&env.ctx.mongo, c, dk.clone())
                        })
                        .await?;
                        (
                            found
                                .and_then(|d| document_to_json(&d).ok())
                                .map(|v| project(v, c.project.as_deref())),
                            None,
                        )
                    }
                },
            }
        }
        _ => return Ok(Vec::new()),
    };
    let mut outs = Vec::new();
    let mut reconcile_needed = false;
    let new_key = match &new {
        Some(d) => match path::get_dotted(d, &c.spec.key) {
            Some(k) => Some(key_text(k)),
            None => {
                tracing::warn!(collection = %c.name, "document skipped: no key field `{}`", c.spec.key);
                metrics::skipped("no_key");
                return Ok(Vec::new());
            }
        },
        None => None,
    };
    let new = new.filter(|d| matches(d, &c.filter));
    if let Some(d) = &new {
        let size = json_size(d);
        if size > settings.max_doc_bytes {
            tracing::warn!(collection = %c.name, key = ?new_key, bytes = size, "document skipped: too large");
            metrics::skipped("doc_too_large");
            return Ok(Vec::new());
        }
    }
    // A replace or update that changed the key: the old key leaves first.
    if let Some(k) = &old {
        if new_key.as_ref() != Some(k) {
            let p = place(&c.spec, members, settings.max_docs, k, None, None);
            reconcile_needed |= p.reconcile;
            outs.extend(p.outs);
        }
    }
    if let Some(k) = new_key.or(old.clone()) {
        let patch = if old.as_ref() == Some(&k) {
            patch
        } else {
            None
        };
        let p = place(&c.spec, members, settings.max_docs, &k, new, patch);
        if p.set_full {
            tracing::warn!(collection = %c.name, key = %k, "document skipped: the set is at --collection-max-docs");
            metrics::skipped("set_full");
        }
        reconcile_needed |= p.reconcile;
        outs.extend(p.outs);
    }
    if reconcile_needed {
        let fresh = rebuild(env, c, constraint).await?;
        outs.extend(reconcile(members, fresh, &c.spec));
    }
    Ok(outs)
}
