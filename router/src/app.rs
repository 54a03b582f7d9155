//! Starting the router: admin listener, Redis (bus and own keys), MongoDB
//! client, one task per scope.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_bus::redis::conn::Connector;
use herald_bus::redis::{RedisBus, RedisBusConfig};
use herald_service::metrics::MetricsRender;
use mongodb::options::ClientOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::checkpoint::CheckpointStore;
use crate::config::RouterConfig;
use crate::keys::ScopeKeys;
use crate::lease::LeaseClient;
use crate::publish::Publisher;
use crate::scope::{ScopeCtx, run_scope};

/// Key prefix of the bus and of the router's keys.
const PREFIX: &str = "herald";

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The admin listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The MongoDB connection string is unusable.
    #[error("--mongo: {0}")]
    Mongo(String),
    /// The Redis URLs are unusable.
    #[error("--redis: {0}")]
    Redis(String),
}

/// Retries `f` with capped exponential backoff (200 ms to 5 s), logging
/// each failure, until it succeeds or `stop` fires.
async fn retry<T, E, F, Fut>(what: &str, stop: &CancellationToken, mut f: F) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(), "cannot connect to {what}; retrying");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Runs the router until `stop` fires. Unreachable Redis or MongoDB is
/// retried (logged, `/readyz` 503 until Redis answers); only a bad admin
/// address or connection string is fatal.
///
/// # Errors
/// [`StartError`].
pub async fn run(config: RouterConfig, stop: CancellationToken) -> Result<(), StartError> {
    // Every task the router starts, awaited before `run` returns.
    let tasks = TaskTracker::new();
    let metrics = MetricsRender::install(config.metrics, "herald-router", &tasks, stop.clone())
        .map_err(StartError::Metrics)?;
    if config.metrics {
        herald_bus::metrics::register();
    }
    crate::metrics::register(
        &config
            .rules
            .scopes
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>(),
    );
    let listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.admin_listen,
            source,
        })?;
    let admin_addr = listener.local_addr().unwrap_or(config.admin_listen);
    let ready = Arc::new(AtomicBool::new(false));
    tasks.spawn(admin::serve(
        listener,
        AdminState {
            metrics,
            ready: ready.clone(),
        },
        stop.clone(),
    ));
    println!(
        "herald-router: admin http://{admin_addr}/metrics id {}",
        config.router_id
    );

    let mut mongo_opts = ClientOptions::parse(&config.mongo_uri)
        .await
        .map_err(|e| StartError::Mongo(e.to_string()))?;
    if mongo_opts.server_selection_timeout.is_none() {
        mongo_opts.server_selection_timeout = Some(Duration::from_secs(10));
    }
    mongo_opts
        .app_name
        .get_or_insert_with(|| "herald-router".into());
    let mongo =
        mongodb::Client::with_options(mongo_opts).map_err(|e| StartError::Mongo(e.to_string()))?;

    let bus_config = RedisBusConfig {
        urls: config.redis_urls.clone(),
        cluster: config.redis_cluster,
        prefix: PREFIX.into(),
        shards: config.bus_shards,
        history_size: config.history_size,
        history_ttl: config.history_ttl,
        node_id: config.router_id.clone(),
        ..RedisBusConfig::default()
    };
    let Some(bus) = retry("Redis (bus)", &stop, || {
        RedisBus::connect(bus_config.clone(), None)
    })
    .await
    else {
        return Ok(());
    };
    // Leases and checkpoints go through the bus's cluster-aware connection
    // kind; their keys share the `{scope}` hash tag, so each script stays in
    // one slot.
    let connector = Connector::new(&bus_config).map_err(|e| StartError::Redis(e.to_string()))?;
    let timeout = bus_config.command_timeout;
    let Some(conn) = retry("Redis (router keys)", &stop, || connector.commands(timeout)).await
    else {
        return Ok(());
    };
    let publisher = Arc::new(Publisher::new(bus.clone()));
    let mut scopes = Vec::new();
    for scope in &config.rules.scopes {
        let keys = ScopeKeys::new(PREFIX, &scope.name);
        let ctx = Arc::new(ScopeCtx {
            scope: scope.clone(),
            mongo: mongo.clone(),
            publisher: publisher.clone(),
            checkpoints: CheckpointStore::new(conn.clone(), keys.clone()),
            lease: LeaseClient::new(
                conn.clone(),
                keys,
                config.router_id.clone(),
                config.stream.lease_ttl,
                tasks.clone(),
            ),
            settings: config.stream.clone(),
            shutdown: stop.clone(),
            tasks: tasks.clone(),
        });
        scopes.push(tasks.spawn(run_scope(ctx)));
    }
    ready.store(true, Ordering::Relaxed);
    tracing::info!(scopes = scopes.len(), id = %config.router_id, "router running");
    for t in scopes {
        let _ = t.await;
    }
    ready.store(false, Ordering::Relaxed);
    bus.shutdown().await;
    tasks.close();
    tasks.wait().await;
    Ok(())
}
