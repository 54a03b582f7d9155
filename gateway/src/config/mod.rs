//! Configuration: command-line flags, `HERALD_*` environment variables and
//! an optional TOML file, merged in that order of precedence.
//!
//! - [`args`]: the flags, each with its environment variable and default.
//! - `auth`: the `--jwt-*`, `--public-rooms` and `--auth-timeout-ms` flags
//!   turned into the node's [`Gate`](crate::auth::Gate).
//! - `proxy`: the `--connect-proxy`, `--socketio-event-proxy` and
//!   `--proxy-*` flags turned into a [`ProxyConfig`](crate::proxy::ProxyConfig).
//! - `tls`: the `--tls-*` and `--admin-tls-*` flags turned into a
//!   [`TlsConfig`](crate::tls::TlsConfig), the files read and checked.
//! - The TOML overlay is `herald_service::config`, shared by every binary.
//! - [`Config`]: the validated, typed configuration the library takes.

pub mod args;
mod auth;
mod proxy;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

pub use args::GatewayArgs;
pub use herald_service::config::ConfigError;

/// The gateway's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who may see what: token keys, claim rules, anonymous access.
    pub auth: crate::auth::Gate,
    /// `--jwt-jwks-url`: where the gate's key store gets more keys.
    pub jwks_url: Option<crate::jwks::JwksUrlConfig>,
    /// Client listener: dashboard page, `/ws`, `/herald.js`, `/socket.io/`.
    pub listen: SocketAddr,
    /// Admin listener: `/metrics`, `/healthz`, `/readyz`, `/api/*`.
    pub admin_listen: SocketAddr,
    /// TLS on either listener, and how certificates are reloaded.
    pub tls: crate::tls::TlsConfig,
    /// The QUIC listener (WebTransport and raw QUIC); `None`: off.
    pub quic: Option<crate::quic::QuicConfig>,
    /// This node's id, unique in the cluster.
    pub node_id: String,
    /// Which bus to run.
    pub bus: BusChoice,
    /// Keys for `/api/*` (empty: open, on a loopback admin listener only).
    pub api_keys: crate::auth::ApiKeys,
    /// Whether `/metrics` needs a key with the `read` scope.
    pub metrics_require_key: bool,
    /// Connection and frame limits.
    pub limits: Limits,
    /// Heartbeat: ping interval.
    pub heartbeat_interval: Duration,
    /// Heartbeat: a connection silent for this long after a ping is dead.
    pub heartbeat_timeout: Duration,
    /// Interval of the `: ping` comments on Server-Sent Events streams.
    pub sse_heartbeat: Duration,
    /// How long a stream the gateway ended waits for its client to take
    /// the final events before the connection is dropped.
    pub sse_final_grace: Duration,
    /// Messages sent to a new subscriber as the room's current state.
    pub snapshot_depth: usize,
    /// Whether clients may publish.
    pub allow_client_publish: bool,
    /// Demo ticks per second (0: no demo feed).
    pub demo_rate: f64,
    /// How long shutdown waits for connections to drain.
    pub shutdown_grace: Duration,
    /// Whether metrics are recorded.
    pub metrics_enabled: bool,
    /// Test builds only (feature `debug-leak`): bytes leaked on purpose per
    /// accepted connection, the soak leak detector's proof.
    #[cfg(feature = "debug-leak")]
    pub debug_leak_bytes_per_connection: usize,
    /// The Socket.IO transport at `/socket.io/`.
    pub socketio: SocketIoConfig,
    /// The application backend (`--connect-proxy`, `--socketio-event-proxy`).
    pub proxy: crate::proxy::ProxyConfig,
    /// Extra fan-out threads for large rooms.
    pub fanout_lanes: usize,
    /// Presence rooms and their bounds (`--presence-*`).
    pub presence: crate::hub::presence::PresenceConfig,
}

/// The Socket.IO transport's settings (`--socketio-*`; see `docs/socketio.md`).
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// Milliseconds between the server's Engine.IO pings (`pingInterval`).
    pub ping_interval: Duration,
    /// How long the server waits for a pong before closing (`pingTimeout`).
    pub ping_timeout: Duration,
    /// The largest Engine.IO message or polling body accepted (`maxPayload`).
    pub max_payload: usize,
    /// Namespaces clients may join; `None` allows every namespace.
    pub namespaces: Option<Vec<String>>,
    /// The client event that subscribes to a room.
    pub subscribe_event: String,
    /// The client event that leaves a room.
    pub unsubscribe_event: String,
    /// The room a subscribe's first argument maps to; `{arg}` is replaced.
    pub room_template: String,
    /// Whether a subscribe leaves the namespace's other rooms first.
    pub leave_others: bool,
    /// Connection state recovery: `pid` on CONNECT, offsets on events.
    pub recovery: bool,
    /// How long a disconnected socket's rooms are kept for recovery.
    pub recovery_window: Duration,
    /// Most namespaces one Engine.IO session may join.
    pub max_namespaces: usize,
    /// Origins whose pages may use the polling transport (`*`: any).
    pub cors_origins: Vec<String>,
    /// The HTTP path the transport is served at (`/socket.io/`).
    pub path: String,
    /// How long a new session may take to send its first CONNECT.
    pub connect_timeout: Duration,
}

/// Which bus the gateway runs on.
#[derive(Debug, Clone)]
pub enum BusChoice {
    /// The in-process bus (`--standalone`).
    Memory {
        /// Messages kept per room.
        history_size: usize,
        /// Idle rooms forget their history after this long.
        history_ttl: Duration,
        /// Most rooms with history.
        max_rooms: usize,
    },
    /// Herald's Redis streams adapter.
    Redis {
        /// `redis://` or `rediss://` URL(s).
        urls: Vec<String>,
        /// Whether the URLs are Redis Cluster nodes.
        cluster: bool,
        /// Number of shard streams.
        shards: u32,
        /// Messages kept per room.
        history_size: usize,
        /// Idle rooms forget their history after this long.
        history_ttl: Duration,
    },
}

/// Limits that protect the gateway from its peers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most simultaneous client connections.
    pub max_connections: usize,
    /// Most simultaneous connections from one client address (0: none).
    pub max_connections_per_ip: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<crate::server::per_ip::IpRange>,
    /// Most rooms one connection may join.
    pub max_rooms_per_connection: usize,
    /// Largest client frame, in bytes.
    pub max_frame_bytes: usize,
    /// Most messages queued for one connection before it is a slow consumer.
    pub outbox_max_messages: usize,
    /// Most bytes queued for one connection before it is a slow consumer.
    pub outbox_max_bytes: usize,
    /// How fast a client may send frames (then 4010).
    pub frame_rate: crate::transport::rate::FrameRate,
    /// How fast a client may send subscribe requests (then 4012).
    pub subscribe_rate: crate::transport::rate::FrameRate,
    /// Most client connections whose first request's headers have not
    /// arrived yet; more are closed at accept.
    pub max_pending_http: usize,
}
