//! One scope's life: wait for the lease, lead (tail, publish, checkpoint),
//! step down when the lease is lost, repeat.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::checkpoint::CheckpointStore;
use crate::lease::LeaseClient;
use crate::metrics;
use crate::publish::Publisher;
use crate::rules::Scope;
use crate::stream::run::{LeadEnd, lead};

/// Tuning shared by every scope.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Most events published as one batch.
    pub batch_max: usize,
    /// Larger raw events are skipped (`too_large`).
    pub max_event_bytes: usize,
    /// Least time between checkpoint writes while events flow.
    pub checkpoint_interval: Duration,
    /// How long one `getMore` waits for events (the idle heartbeat).
    pub max_await: Duration,
    /// Most documents a resync publishes per scope.
    pub resync_max_docs: usize,
    /// Lease length.
    pub lease_ttl: Duration,
    /// Live-collection bounds.
    pub collection: CollectionSettings,
}

/// Bounds of live collections.
#[derive(Debug, Clone, Copy)]
pub struct CollectionSettings {
    /// Most documents one set holds (`--collection-max-docs`).
    pub max_docs: usize,
    /// Largest document (JSON bytes) a set takes (`--collection-max-doc-bytes`).
    pub max_doc_bytes: usize,
    /// Most rooms whose sets are cached (`--collection-cache-rooms`).
    pub cache_rooms: usize,
}

/// Everything one scope's task needs.
pub struct ScopeCtx {
    /// The scope and its rules.
    pub scope: Scope,
    /// The MongoDB client (shared).
    pub mongo: mongodb::Client,
    /// The bus publisher (shared).
    pub publisher: Arc<Publisher>,
    /// The scope's checkpoint.
    pub checkpoints: CheckpointStore,
    /// The scope's lease.
    pub lease: LeaseClient,
    /// Tuning.
    pub settings: StreamSettings,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// The router's task tracker (awaited at shutdown): stream readers.
    pub tasks: TaskTracker,
}

/// Runs the scope until shutdown.
pub async fn run_scope(ctx: Arc<ScopeCtx>) {
    let name = ctx.scope.name.clone();
    metrics::leader(&name, false);
    let poll = ctx.settings.lease_ttl / 3;
    let mut standby_logged = false;
    while !ctx.shutdown.is_cancelled() {
        match ctx.lease.try_acquire(&ctx.shutdown).await {
            Ok(Some(lease)) => {
                standby_logged = false;
                tracing::info!(scope = %name, fence = lease.fence, "leading scope");
                metrics::leader(&name, true);
                let end = lead(&ctx, &lease).await;
                metrics::leader(&name, false);
                drop(lease);
                match end {
                    LeadEnd::Stopped if ctx.shutdown.is_cancelled() => {
                        ctx.lease.release().await;
                        tracing::info!(scope = %name, "released the lease");
                        return;
                    }
                    other => tracing::warn!(scope = %name, end = ?other, "stepped down"),
                }
            }
            Ok(None) => {
                if !standby_logged {
                    tracing::info!(scope = %name, "standby: another router leads this scope");
                    standby_logged = true;
                }
            }
            Err(e) => {
                tracing::warn!(scope = %name, error = %e, "cannot reach Redis for the lease; retrying")
            }
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}
