//! The leader's batch loop for one scope.
//!
//! Read events (in order) → route each through the scope's rules (and its
//! live collections, [`crate::collection::Engine`]) → publish
//! the batch with `src` = scope, `src_pos` = the event's token hex and
//! `fence` = the lease's token → once accepted, advance the position and
//! checkpoint it (at most every `checkpoint_interval`, and while idle from
//! the postBatchResumeToken). A crash replays from the checkpoint; the bus
//! drops the replays by `src_pos`, so each change is stored exactly once.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backoff::ResyncBackoff;
use super::open::{Start, Stream, is_dead_position, open};
use super::reader::{self, Item};
use super::token::{event_token_hex, token_cluster_time, token_hex};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::collection::{Engine, Env};
use crate::lease::Lease;
use crate::metrics;
use crate::publish::{Fate, Origin, PublishError, event_time_ms, route};
use crate::resync::{ResyncError, resync};
use crate::scope::ScopeCtx;

/// Why leading ended.
#[derive(Debug)]
pub enum LeadEnd {
    /// Shutdown or the lease was lost.
    Stopped,
    /// A newer leader fenced this one off.
    Fenced,
}

/// The scope's position as this leader knows it.
struct Pos {
    /// Last token processed (published) or seen idle.
    token: Option<String>,
    /// `token` is an invalidate event's.
    invalidate: bool,
    /// Whether `token` differs from what is saved.
    dirty: bool,
    /// When the checkpoint was last written.
    saved_at: Instant,
}

impl Pos {
    fn start(&self) -> Start {
        match &self.token {
            None => Start::Now,
            Some(t) if self.invalidate => Start::StartAfter(t.clone()),
            Some(t) => Start::ResumeAfter(t.clone()),
        }
    }
}

/// What a processed batch asks of the loop.
enum Next {
    /// Keep reading.
    More,
    /// The stream ended or failed: open it again.
    Reopen(Option<mongodb::error::Error>),
}

fn set_lag(scope: &str, secs: f64) {
    ::metrics::gauge!(metrics::LAG_SECONDS, "scope" => scope.to_owned()).set(secs.max(0.0));
}

async fn sleep_or_stop(lease: &Lease, d: Duration) -> bool {
    tokio::select! {
        () = lease.lost.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// What the leader does before reading again.
enum Step {
    /// Open the stream at the current position.
    Open,
    /// The position is dead (286, 260, 280): resync from a fresh stream,
    /// never reopen at the dead position.
    Resync(mongodb::error::Error),
}

/// Leads the scope until the lease is lost, shutdown, or a newer fence.
pub async fn lead(ctx: &ScopeCtx, lease: &Lease) -> LeadEnd {
    let name = ctx.scope.name.as_str();
    let mut backoff = Duration::from_millis(100);
    let cp = loop {
        match ctx.checkpoints.load().await {
            Ok(cp) => break cp,
            Err(e) => {
                tracing::warn!(scope = name, error = %e, "cannot load the checkpoint; retrying");
                if !sleep_or_stop(lease, backoff).await {
                    return LeadEnd::Stopped;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    tracing::info!(scope = name, checkpoint = ?cp, "resuming");
    let mut pos = Pos {
        invalidate: cp.as_ref().is_some_and(|c| c.invalidate),
        token: cp.map(|c| c.token),
        dirty: false,
        saved_at: Instant::now(),
    };
    backoff = Duration::from_millis(100);
    let mut resyncs = ResyncBackoff::default();
    let mut step = Step::Open;
    // Live-collection sets, cached for this lead only.
    let mut engine = Engine::new();
    loop {
        if lease.lost.is_cancelled() {
            return final_save(ctx, lease, &mut pos).await;
        }
        let stream: Stream = match std::mem::replace(&mut step, Step::Open) {
            Step::Resync(cause) => {
                let wait = resyncs.delay(Instant::now());
                if !wait.is_zero() {
                    tracing::info!(
                        scope = name,
                        wait_ms = wait.as_millis(),
                        "resync backing off"
                    );
                    if !sleep_or_stop(lease, wait).await {
                        return final_save(ctx, lease, &mut pos).await;
                    }
                }
                let known = engine.known_rooms();
                engine.clear();
                match resync(ctx, lease, &cause, &known).await {
                    Ok((s, token)) => {
                        pos.token = Some(token);
                        pos.invalidate = false;
                        pos.dirty = true;
                        if let Err(CheckpointError::Fenced) = save(ctx, lease, &mut pos).await {
                            return LeadEnd::Fenced;
                        }
                        ::metrics::counter!(metrics::STREAM_OPENS_TOTAL, "scope" => name.to_owned())
                            .increment(1);
                        s
                    }
                    Err(ResyncError::Publish(PublishError::Fenced(_))) => return LeadEnd::Fenced,
                    Err(ResyncError::Publish(PublishError::Cancelled)) => {
                        return final_save(ctx, lease, &mut pos).await;
                    }
                    Err(e) => {
                        tracing::warn!(scope = name, error = %e, "resync failed; retrying");
                        step = Step::Resync(cause);
                        continue;
                    }
                }
            }
            Step::Open => {
                let start = pos.start();
                let opened = open(
                    &ctx.mongo,
                    &ctx.scope,
                    &start,
                    ctx.settings.max_await,
                    u32::try_from(ctx.settings.batch_max).unwrap_or(u32::MAX),
                )
                .await;
                match opened {
                    Ok(s) => {
                        ::metrics::counter!(metrics::STREAM_OPENS_TOTAL, "scope" => name.to_owned())
                            .increment(1);
                        s
                    }
                    Err(e) if is_dead_position(&e) => {
                        tracing::warn!(scope = name, error = %e, start = ?start, "position is gone; resyncing from a fresh stream");
                        step = Step::Resync(e);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(scope = name, error = %e, start = ?start, "cannot open the change stream; retrying");
                        if !sleep_or_stop(lease, backoff).await {
                            return final_save(ctx, lease, &mut pos).await;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
        };
        if pos.token.is_none() {
            // First start of this scope: pin "now" at once, so a crash
            // before the first checkpoint does not skip what follows.
            if let Some(hex) = stream.resume_token().as_ref().and_then(token_hex) {
                pos.token = Some(hex);
                pos.dirty = true;
                if let Err(CheckpointError::Fenced) = save(ctx, lease, &mut pos).await {
                    return LeadEnd::Fenced;
                }
            }
        }
        let (tx, mut rx) = mpsc::channel(ctx.settings.batch_max.max(1) * 2);
        let _reader = reader::spawn(&ctx.tasks, stream, tx);
        loop {
            let first = tokio::select! {
                () = lease.lost.cancelled() => return final_save(ctx, lease, &mut pos).await,
                it = rx.recv() => it,
            };
            let Some(first) = first else { break };
            let mut items = vec![first];
            while items.len() < ctx.settings.batch_max {
                match rx.try_recv() {
                    Ok(i) => items.push(i),
                    Err(_) => break,
                }
            }
            match process(ctx, lease, &mut pos, &mut engine, items).await {
                Err(end) => return end,
                Ok(Next::More) => backoff = Duration::from_millis(100),
                Ok(Next::Reopen(None)) => break,
                Ok(Next::Reopen(Some(e))) if is_dead_position(&e) => {
                    tracing::warn!(scope = name, error = %e, token = ?pos.token, "position is gone; resyncing from a fresh stream");
                    step = Step::Resync(e);
                    break;
                }
                Ok(Next::Reopen(Some(e))) => {
                    tracing::warn!(scope = name, error = %e, "change stream failed; reopening from the last position");
                    if !sleep_or_stop(lease, backoff).await {
                        return final_save(ctx, lease, &mut pos).await;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    break;
                }
            }
        }
    }
}

/// Routes, publishes and checkpoints one batch of reader items.
async fn process(
    ctx: &ScopeCtx,
    lease: &Lease,
    pos: &mut Pos,
    engine: &mut Engine,
    items: Vec<Item>,
) -> Result<Next, LeadEnd> {
    let name = ctx.scope.name.as_str();
    let mut pubs = Vec::new();
    let mut next = Next::More;
    let mut newest: Option<u64> = None;
    let mut force = false;
    for item in items {
        match item {
            Item::Event(raw) => {
                let token = raw
                    .get_document("_id")
                    .ok()
                    .and_then(|d| d.get_str("_data").ok())
                    .map(str::to_owned);
                if raw.as_bytes().len() > ctx.settings.max_event_bytes {
                    tracing::warn!(scope = name, bytes = raw.as_bytes().len(), token = ?token, "event skipped: too large");
                    metrics::skipped("too_large");
                    if token.is_some() {
                        pos.token = token;
                        pos.invalidate = false;
                        pos.dirty = true;
                    }
                    continue;
                }
                // Routed in place: no copy of the event into a document.
                let ev: &mongodb::bson::RawDocument = &raw;
                let op = ev.get_str("operationType").unwrap_or("unknown").to_owned();
                ::metrics::counter!(metrics::EVENTS_TOTAL, "op" => op.clone()).increment(1);
                let hex = event_token_hex(ev).map(str::to_owned);
                let ts = event_time_ms(ev);
                newest = ts.or(newest);
                let origin = Origin {
                    scope: name,
                    src_pos: hex.as_deref(),
                    src_ts_ms: ts,
                    fence: lease.fence,
                };
                pubs.extend(route(&ctx.scope, ev, origin));
                if !ctx.scope.collections.is_empty() {
                    let env = Env { ctx, lease };
                    engine
                        .handle(&env, ev, origin, &mut pubs)
                        .await
                        .map_err(lead_end)?;
                }
                if hex.is_some() {
                    pos.token = hex;
                    pos.invalidate = op == "invalidate";
                    pos.dirty = true;
                    force |= pos.invalidate;
                }
            }
            Item::Idle(t) => {
                if let Some(hex) = t.as_ref().and_then(token_hex) {
                    if let Some((secs, _)) = token_cluster_time(&hex) {
                        set_lag(name, metrics::now_secs() - f64::from(secs));
                    }
                    if !pos.invalidate && pos.token.as_deref() != Some(hex.as_str()) {
                        pos.token = Some(hex);
                        pos.dirty = true;
                    }
                }
            }
            Item::End => {
                next = Next::Reopen(None);
                force = true;
            }
            Item::Error(e) => {
                next = Next::Reopen(Some(e));
                force = true;
            }
        }
    }
    let set_rooms: Vec<Option<String>> = pubs
        .iter()
        .map(|p| p.set.is_some().then(|| p.room.clone()))
        .collect();
    let fates = ctx
        .publisher
        .publish_fates(pubs, &lease.lost)
        .await
        .map_err(lead_end)?;
    if !ctx.scope.collections.is_empty() {
        let of_sets: Vec<(String, Fate)> = set_rooms
            .into_iter()
            .zip(fates)
            .filter_map(|(r, f)| r.map(|r| (r, f)))
            .collect();
        engine.settle(&of_sets, ctx.settings.collection.cache_rooms);
    }
    if let Some(ms) = newest {
        #[allow(clippy::cast_precision_loss)]
        set_lag(name, metrics::now_secs() - ms as f64 / 1000.0);
    }
    if pos.dirty && (force || pos.saved_at.elapsed() >= ctx.settings.checkpoint_interval) {
        if let Err(CheckpointError::Fenced) = save(ctx, lease, pos).await {
            return Err(LeadEnd::Fenced);
        }
    }
    ::metrics::gauge!(metrics::CHECKPOINT_AGE_SECONDS, "scope" => name.to_owned())
        .set(pos.saved_at.elapsed().as_secs_f64());
    Ok(next)
}

/// How a publishing error ends leading.
fn lead_end(e: PublishError) -> LeadEnd {
    match e {
        PublishError::Fenced(m) => {
            tracing::warn!(error = %m, "fenced off by a newer leader");
            LeadEnd::Fenced
        }
        PublishError::Cancelled => LeadEnd::Stopped,
    }
}

/// Writes the checkpoint now. Redis errors are logged (the next batch tries
/// again; replays are harmless); a lost fence is returned.
async fn save(ctx: &ScopeCtx, lease: &Lease, pos: &mut Pos) -> Result<(), CheckpointError> {
    let Some(token) = pos.token.clone() else {
        return Ok(());
    };
    let cp = Checkpoint {
        token,
        invalidate: pos.invalidate,
    };
    match ctx.checkpoints.save(lease.fence, &cp).await {
        Ok(()) => {
            pos.dirty = false;
            pos.saved_at = Instant::now();
            Ok(())
        }
        Err(CheckpointError::Fenced) => Err(CheckpointError::Fenced),
        Err(e) => {
            tracing::warn!(scope = %ctx.scope.name, error = %e, "checkpoint not written");
            Ok(())
        }
    }
}

async fn final_save(ctx: &ScopeCtx, lease: &Lease, pos: &mut Pos) -> LeadEnd {
    if pos.dirty && ctx.shutdown.is_cancelled() {
        let _ = save(ctx, lease, pos).await;
    }
    LeadEnd::Stopped
}
