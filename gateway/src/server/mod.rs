//! Starting and stopping a gateway node.
//!
//! - [`AppState`]: what every handler and session shares.
//! - [`admission`]: the connection limit.
//! - [`Gateway`]: binds both listeners, builds the bus and the hub, runs the
//!   demo feed, and drains on shutdown.

pub mod admission;
pub mod per_ip;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{BusChoice, Config};
use crate::hub::Hub;
use crate::hub::HubConfig;
use crate::metrics::GatewayMetrics;
use crate::transport::link::LinkLimits;
use admission::Admission;
use herald_bus::memory::{MemoryBus, MemoryBusConfig};
use herald_bus::redis::{LocalPresence, RedisBus, RedisBusConfig};
use herald_bus::{Bus, BusError, Sink};
use herald_service::metrics::MetricsRender;

/// What every handler and session shares.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// Rooms and sessions.
    pub hub: Arc<Hub>,
    /// The connection limit.
    pub admission: Arc<Admission>,
    /// The per-address connection limit.
    pub per_ip: Arc<per_ip::PerIp>,
    /// Fires when the node drains: sessions close with 4001.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Renders `/metrics`.
    pub metrics_render: MetricsRender,
    /// The Redis bus, when the node runs on one (cluster-wide queries).
    pub redis: Option<Arc<RedisBus>>,
    /// The application backend, when a proxy URL is configured.
    pub backend: Option<crate::proxy::Backend>,
    /// The QUIC listener's self-signed certificate (standalone mode
    /// without `--tls-cert-file`), whose hash pages fetch.
    pub quic_cert: Option<Arc<crate::quic::cert::SelfSigned>>,
    /// Where the QUIC listener listens, once bound.
    pub quic_addr: OnceLock<SocketAddr>,
    /// A random per-process prefix that keeps session ids unique across restarts.
    boot: u32,
    /// Session counter.
    next_session: AtomicU64,
}

impl AppState {
    /// Admits a connection for `transport` from the request's client
    /// (`peer`, or behind a trusted proxy its `X-Forwarded-For`): `None`
    /// when the gateway or that address is full.
    pub fn admit(
        &self,
        transport: &'static str,
        headers: &axum::http::HeaderMap,
        peer: Option<crate::proxy::handshake::PeerAddr>,
    ) -> Option<admission::ConnPermit> {
        let ip = match peer {
            Some(p) if self.per_ip.enabled() => {
                match self
                    .per_ip
                    .try_take(self.per_ip.client_ip(p.0.ip(), headers))
                {
                    Ok(ip) => ip,
                    Err(()) => {
                        self.hub.metrics().ip_limit_refusal();
                        return None;
                    }
                }
            }
            _ => None,
        };
        let mut permit = self.admission.try_admit(transport)?;
        permit.ip = ip;
        Some(permit)
    }

    /// A new session id, unique in the cluster while node ids are unique.
    pub fn new_session_id(&self) -> String {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        format!("{}-{:08x}-{n:x}", self.config.node_id, self.boot)
    }

    /// The queue limits of a new connection.
    pub fn link_limits(&self) -> LinkLimits {
        LinkLimits {
            max_messages: self.config.limits.outbox_max_messages,
            max_bytes: self.config.limits.outbox_max_bytes,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The bus could not start.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The application backend's client could not be built.
    #[error("application backend: {0}")]
    Backend(#[from] crate::proxy::ProxyError),
    /// The `--jwt-jwks-url` client could not be built.
    #[error("JWKS URL: {0}")]
    Jwks(String),
    /// A TLS configuration could not be built, or SIGHUP not listened for.
    #[error("TLS: {0}")]
    Tls(String),
    /// The QUIC listener could not start.
    #[error("QUIC: {0}")]
    Quic(String),
}

/// A running gateway node.
pub struct Gateway {
    /// Where the client listener listens.
    pub client_addr: SocketAddr,
    /// Where the admin listener listens.
    pub admin_addr: SocketAddr,
    /// Whether the client listener speaks TLS (`https://`, `wss://`).
    pub client_tls: bool,
    /// Whether the admin listener speaks TLS.
    pub admin_tls: bool,
    /// Where the QUIC listener listens (UDP), when it is on.
    pub quic_addr: Option<SocketAddr>,
    /// Shared state.
    pub state: Arc<AppState>,
    /// Stops the client listener's accept loop.
    stop_client: CancellationToken,
    /// Stops the admin listener and the background tasks.
    stop_admin: CancellationToken,
    /// Listener and background tasks.
    background: TaskTracker,
}

/// The listen backlog: connection storms (every browser of a fleet coming
/// back at once) must queue, not be dropped; the kernel caps it at
/// `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    };
    socket
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(addr)?;
            s.listen(LISTEN_BACKLOG)
        })
        .map_err(|source| StartError::Bind { addr, source })
}

/// Answers other nodes' presence queries from this node's hub.
#[derive(Default)]
struct HubPresence {
    /// Set once the hub exists (the hub needs the bus first).
    hub: OnceLock<Weak<Hub>>,
}

impl HubPresence {
    fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.get().and_then(Weak::upgrade)
    }
}

impl LocalPresence for HubPresence {
    fn count(&self, room: &str) -> u64 {
        self.hub().map_or(0, |h| h.room_count(room) as u64)
    }
    fn sessions(&self, room: &str) -> Vec<String> {
        self.hub()
            .map(|h| h.room_sessions(room))
            .unwrap_or_default()
    }
    fn connections(&self) -> u64 {
        self.hub().map_or(0, |h| h.session_count() as u64)
    }
    fn users(&self, room: &str, limit: usize) -> herald_protocol::bus::RoomUsers {
        self.hub()
            .map(|h| h.room_users(room, limit))
            .unwrap_or_default()
    }
}

/// The bus the configuration asks for; the Redis handle too when it is Redis.
async fn build_bus(
    config: &Config,
    presence: Arc<HubPresence>,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Result<(Arc<dyn Bus>, Option<Arc<RedisBus>>), StartError> {
    match &config.bus {
        BusChoice::Memory {
            history_size,
            history_ttl,
            max_rooms,
        } => {
            let bus = MemoryBus::new(MemoryBusConfig {
                history_size: *history_size,
                history_ttl: *history_ttl,
                max_rooms: *max_rooms,
            });
            let sweeper = Arc::downgrade(&bus);
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    match sweeper.upgrade() {
                        Some(bus) => {
                            bus.sweep();
                        }
                        None => break,
                    }
                }
            });
            Ok((bus, None))
        }
        BusChoice::Redis {
            urls,
            cluster,
            shards,
            history_size,
            history_ttl,
        } => {
            let redis_config = RedisBusConfig {
                urls: urls.clone(),
                cluster: *cluster,
                shards: *shards,
                history_size: *history_size,
                history_ttl: *history_ttl,
                node_id: config.node_id.clone(),
                ..RedisBusConfig::default()
            };
            let bus =
                RedisBus::connect(redis_config, Some(presence as Arc<dyn LocalPresence>)).await?;
            Ok((bus.clone() as Arc<dyn Bus>, Some(bus)))
        }
    }
}

/// The listeners' TLS acceptors (`None`: plain HTTP), the client
/// listener's reloadable certificate (QUIC presents it too), and the task
/// that reloads them on SIGHUP and file changes.
type StartedTls = (
    Option<TlsAcceptor>,
    Option<TlsAcceptor>,
    Option<Arc<crate::tls::resolver::ReloadableCert>>,
);

fn start_tls(
    config: &Config,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Result<StartedTls, StartError> {
    use crate::tls::reload::Watched;
    use crate::tls::resolver::{ReloadableCert, server_config};
    let tls = &config.tls;
    if !tls.enabled() {
        return Ok((None, None, None));
    }
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| StartError::Tls(format!("cannot listen for SIGHUP: {e}")))?;
    let mut watched = Vec::new();
    let mut client_cert = None;
    let mut acceptor = |name: &'static str, listener: Option<&crate::tls::ListenerTls>| {
        listener
            .map(|l| {
                let cert = Arc::new(ReloadableCert::new(l.initial.key.clone()));
                if name == "client" {
                    client_cert = Some(cert.clone());
                }
                watched.push(Watched::new(
                    name,
                    l.files.clone(),
                    &l.initial,
                    cert.clone(),
                ));
                server_config(cert)
                    .map(TlsAcceptor::from)
                    .map_err(|e| StartError::Tls(e.to_string()))
            })
            .transpose()
    };
    let client = acceptor("client", tls.client.as_ref())?;
    let admin = acceptor("admin", tls.admin.as_ref())?;
    tasks.spawn(crate::tls::reload::run(
        watched,
        tls.watch_interval,
        Some(hup),
        stop,
    ));
    Ok((client, admin, client_cert))
}

/// The self-signed QUIC certificate, when the QUIC listener needs one:
/// for localhost, the loopback addresses and the client listener's.
fn self_signed(config: &Config) -> Result<Option<Arc<crate::quic::cert::SelfSigned>>, StartError> {
    let Some(q) = &config.quic else {
        return Ok(None);
    };
    if q.cert != crate::quic::CertSource::SelfSigned {
        return Ok(None);
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ip = config.listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    crate::quic::cert::SelfSigned::new(names)
        .map(Some)
        .map_err(|e| StartError::Quic(e.to_string()))
}

/// Binds the QUIC listener, when it is on, and starts its accept loop.
fn start_quic(
    state: &Arc<AppState>,
    client_addr: SocketAddr,
    client_cert: Option<Arc<crate::tls::resolver::ReloadableCert>>,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(q) = &state.config.quic else {
        return Ok(None);
    };
    let cert = match (&state.quic_cert, client_cert) {
        (Some(s), _) => s.cert.clone(),
        (None, Some(c)) => c,
        (None, None) => {
            return Err(StartError::Quic(
                "no certificate: give --tls-cert-file and --tls-key-file".into(),
            ));
        }
    };
    let server = crate::quic::endpoint::server_config(
        cert,
        q,
        state.config.heartbeat_interval,
        state.config.limits.max_frame_bytes,
    )
    .map_err(|e| StartError::Quic(e.to_string()))?;
    let addr = q.listen.unwrap_or(client_addr);
    let endpoint =
        crate::quic::endpoint::bind(addr, server).map_err(|e| StartError::Quic(e.to_string()))?;
    let bound = endpoint
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let _ = state.quic_addr.set(bound);
    if let Some(s) = &state.quic_cert {
        tasks.spawn(s.clone().run(stop.clone()));
    }
    tasks.spawn(crate::quic::endpoint::run(
        endpoint,
        state.clone(),
        stop,
        state.config.shutdown_grace,
    ));
    Ok(Some(bound))
}

/// With `--jwt-jwks-url`: the first fetch (awaited, bounded by its
/// timeout; a failure is logged and the node starts anyway), then the
/// refresh task.
async fn start_jwks(
    config: &Config,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Result<(), StartError> {
    let (Some(url), Some(store)) = (&config.jwks_url, config.auth.key_store()) else {
        return Ok(());
    };
    let fetcher = crate::jwks::fetch::Fetcher::new(url.url.clone(), url.timeout)
        .map_err(|e| StartError::Jwks(e.to_string()))?;
    let healthy = crate::jwks::refresh::first(&fetcher, store, url).await;
    tasks.spawn(crate::jwks::refresh::run(
        fetcher,
        store.clone(),
        url.clone(),
        healthy,
        stop,
    ));
    Ok(())
}

impl Gateway {
    /// Binds the listeners, starts the bus and begins serving.
    ///
    /// # Errors
    /// [`StartError`] when a listener cannot bind or the bus cannot start.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let stop_client = CancellationToken::new();
        let stop_admin = CancellationToken::new();
        let background = TaskTracker::new();
        let metrics_render = MetricsRender::install(
            config.metrics_enabled,
            "herald-gateway",
            &background,
            stop_admin.clone(),
        )
        .map_err(StartError::Metrics)?;
        if config.metrics_enabled {
            herald_bus::metrics::register();
        }
        let metrics = Arc::new(GatewayMetrics::new(config.metrics_enabled));
        if config.metrics_enabled {
            crate::tls::reload::register_metrics();
            crate::jwks::fetch::register_metrics();
        }
        // Before the ports open, like SIGTERM's: a SIGHUP right after the
        // banner reloads instead of killing the process.
        let (client_tls, admin_tls, client_cert) =
            start_tls(&config, &background, stop_admin.clone())?;
        let quic_cert = self_signed(&config)?;
        let client_listener = bind(config.listen)?;
        let admin_listener = bind(config.admin_listen)?;
        let client_addr = client_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.admin_listen,
                source,
            })?;

        start_jwks(&config, &background, stop_admin.clone()).await?;
        let presence = Arc::new(HubPresence::default());
        let (bus, redis) =
            build_bus(&config, presence.clone(), &background, stop_admin.clone()).await?;
        let history_size = match &config.bus {
            BusChoice::Memory { history_size, .. } | BusChoice::Redis { history_size, .. } => {
                *history_size
            }
        };
        let hub = Hub::with_presence(
            bus.clone(),
            metrics.clone(),
            HubConfig {
                lanes: config.fanout_lanes,
                history_size,
            },
            config.presence.clone(),
            config.node_id.clone(),
        );
        let _ = presence.hub.set(Arc::downgrade(&hub));
        bus.start(hub.clone() as Arc<dyn Sink>).await?;

        let state = Arc::new(AppState {
            #[cfg(not(feature = "debug-leak"))]
            admission: Admission::new(config.limits.max_connections, metrics),
            #[cfg(feature = "debug-leak")]
            admission: Admission::leaking(
                config.limits.max_connections,
                metrics,
                config.debug_leak_bytes_per_connection,
            ),
            per_ip: per_ip::PerIp::new(
                config.limits.max_connections_per_ip,
                config.limits.trusted_proxies.clone(),
            ),
            hub,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            metrics_render,
            redis,
            backend: if config.proxy.enabled() {
                Some(crate::proxy::Backend::new(config.proxy.clone())?)
            } else {
                None
            },
            quic_cert,
            quic_addr: OnceLock::new(),
            boot: rand::random(),
            next_session: AtomicU64::new(1),
            config,
        });
        let pending = crate::http::pending::PendingLimit::new(
            state.config.limits.max_pending_http,
            state.hub.metrics().clone(),
        );
        background.spawn(crate::http::serve::serve(
            client_listener,
            crate::http::client::router(state.clone()),
            client_tls.clone(),
            stop_client.clone(),
            state.tracker.clone(),
            Some(pending),
        ));
        background.spawn(crate::http::serve::serve(
            admin_listener,
            crate::http::admin::router(state.clone()),
            admin_tls.clone(),
            stop_admin.clone(),
            background.clone(),
            None,
        ));
        let quic_addr = start_quic(
            &state,
            client_addr,
            client_cert,
            &background,
            stop_client.clone(),
        )?;
        if state.config.demo_rate > 0.0 {
            background.spawn(crate::demo::run(
                state.hub.bus().clone(),
                state.config.demo_rate,
                stop_admin.clone(),
            ));
        }
        tracing::info!(client = %client_addr, admin = %admin_addr, quic = ?quic_addr, node = %state.config.node_id, "gateway listening");
        let auth = &state.config.auth;
        if auth.is_open() && !matches!(state.config.bus, crate::config::BusChoice::Memory { .. }) {
            tracing::warn!(access = %auth.describe(), "anonymous access to every room (--public-rooms '*')");
        } else {
            tracing::info!(access = %auth.describe(), "access policy");
        }
        Ok(Self {
            client_addr,
            admin_addr,
            client_tls: client_tls.is_some(),
            admin_tls: admin_tls.is_some(),
            quic_addr,
            state,
            stop_client,
            stop_admin,
            background,
        })
    }

    /// Drains the node: stops accepting, tells every client to reconnect
    /// elsewhere (close code 4001), and waits for the connections to close,
    /// at most the configured grace period. Returns how many connections
    /// were still open when the grace period ended.
    pub async fn shutdown(self) -> usize {
        let grace = self.state.config.shutdown_grace;
        let before = self.state.admission.live();
        tracing::info!(
            connections = before,
            grace_ms = grace.as_millis() as u64,
            "draining"
        );
        self.stop_client.cancel();
        self.state.shutdown.cancel();
        self.state.tracker.close();
        let drained = tokio::time::timeout(grace, self.state.tracker.wait())
            .await
            .is_ok();
        let left = if drained {
            0
        } else {
            self.state.admission.live()
        };
        self.stop_admin.cancel();
        if let Some(redis) = &self.state.redis {
            redis.shutdown().await;
        }
        self.background.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.background.wait()).await;
        tracing::info!(left, "drained");
        left
    }
}
