//! The gateway's flags. Every flag also reads `HERALD_<NAME>` from the
//! environment and `<name>` from the TOML file given by `--config`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

use super::{BusChoice, Config, ConfigError, Limits, SocketIoConfig};

/// Herald gateway: holds browser connections and fans out room messages.
///
/// Precedence: flags, then HERALD_* environment variables, then the TOML
/// file given with --config (keys are the long flag names, with - or _),
/// then the defaults shown here.
#[derive(Debug, Clone, Parser, Serialize, Deserialize)]
#[command(name = "herald-gateway", version, about, long_about = None)]
#[serde(deny_unknown_fields)]
pub struct GatewayArgs {
    /// TOML config file.
    #[arg(long, env = "HERALD_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Run alone: in-memory bus, publish API and demo feed, no Redis needed.
    #[arg(long, env = "HERALD_STANDALONE")]
    #[serde(default)]
    pub standalone: bool,

    /// Client listener address (dashboard page, /ws, /herald.js, /socket.io/).
    #[arg(long, env = "HERALD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Admin listener address (/metrics, /healthz, /readyz, /api/*).
    #[arg(long, env = "HERALD_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,

    /// This node's id, unique in the cluster [default: gw-<random>].
    #[arg(long, env = "HERALD_NODE_ID")]
    pub node_id: Option<String>,

    /// Redis URL for the streams bus (redis:// or rediss://, with user:password@ for AUTH).
    /// Repeat, or separate with commas, to list Redis Cluster seed nodes.
    #[arg(long, env = "HERALD_REDIS_URL", value_delimiter = ',')]
    #[serde(default)]
    pub redis_url: Vec<String>,

    /// The Redis URLs are Redis Cluster nodes.
    #[arg(long, env = "HERALD_REDIS_CLUSTER")]
    #[serde(default)]
    pub redis_cluster: bool,

    /// Number of shard streams rooms are hashed onto (all nodes and routers must agree).
    #[arg(long, env = "HERALD_BUS_SHARDS", default_value_t = 64)]
    pub bus_shards: u32,

    /// Messages kept per room for snapshots and recovery.
    #[arg(long, env = "HERALD_HISTORY_SIZE", default_value_t = 100)]
    pub history_size: usize,

    /// Seconds an idle room keeps its history (the recovery window).
    #[arg(long, env = "HERALD_HISTORY_TTL_SECS", default_value_t = 3600)]
    pub history_ttl_secs: u64,

    /// Most rooms the in-memory bus (`--standalone`) keeps history for; a
    /// publish that would create one more is refused.
    #[arg(long, env = "HERALD_MAX_ROOMS", default_value_t = 1_000_000)]
    pub max_rooms: usize,

    /// Messages a new subscriber gets as the room's current state.
    #[arg(long, env = "HERALD_SNAPSHOT_DEPTH", default_value_t = 1)]
    pub snapshot_depth: usize,

    /// Bearer key (16 to 512 bytes) with every scope on /api/*. Without any key the API is open, which the gateway allows only on a loopback admin listener.
    #[arg(long, env = "HERALD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// A scoped API key, SCOPES:KEY with scopes joined by '+' (publish, emit, disconnect, read), e.g. publish+read:KEY; repeat, or separate with spaces.
    #[arg(
        long,
        env = "HERALD_API_SCOPED_KEY",
        hide_env_values = true,
        value_delimiter = ' '
    )]
    #[serde(default)]
    pub api_scoped_key: Vec<String>,

    /// Require an API key with the read scope on /metrics too.
    #[arg(long, env = "HERALD_METRICS_REQUIRE_KEY")]
    #[serde(default)]
    pub metrics_require_key: bool,

    /// HMAC secret (at least 32 bytes) that connection and subscription tokens are signed with.
    #[arg(long, env = "HERALD_JWT_HMAC_SECRET", hide_env_values = true)]
    pub jwt_hmac_secret: Option<String>,

    /// Algorithm of --jwt-hmac-secret: HS256, HS384 or HS512 (tokens of any other are refused).
    #[arg(long, env = "HERALD_JWT_HMAC_ALG", default_value = "HS256")]
    pub jwt_hmac_alg: String,

    /// kid of the --jwt-hmac-secret key (required when other keys are configured too).
    #[arg(long, env = "HERALD_JWT_HMAC_KID")]
    pub jwt_hmac_kid: Option<String>,

    /// PEM public key file that verifies tokens (its algorithm is --jwt-public-key-alg).
    #[arg(long, env = "HERALD_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Algorithm of --jwt-public-key-file: RS256, ES256 or EdDSA.
    #[arg(long, env = "HERALD_JWT_PUBLIC_KEY_ALG")]
    pub jwt_public_key_alg: Option<String>,

    /// kid of the --jwt-public-key-file key (required when other keys are configured too).
    #[arg(long, env = "HERALD_JWT_PUBLIC_KEY_KID")]
    pub jwt_public_key_kid: Option<String>,

    /// JWKS file whose signing keys verify tokens (each pinned to its alg; at most 64 KiB).
    #[arg(long, env = "HERALD_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// JWKS URL (http:// or https://) whose signing keys verify tokens, fetched at start and every --jwt-jwks-refresh-secs; its keys must carry a kid. From config only, never from a token.
    #[arg(long, env = "HERALD_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,

    /// Seconds between fetches of --jwt-jwks-url (a token with an unknown kid may also trigger one, at most every --jwt-jwks-cooldown-secs).
    #[arg(long, env = "HERALD_JWT_JWKS_REFRESH_SECS", default_value_t = 300)]
    pub jwt_jwks_refresh_secs: u64,

    /// Least seconds between two fetches of --jwt-jwks-url that tokens with an unknown kid trigger.
    #[arg(long, env = "HERALD_JWT_JWKS_COOLDOWN_SECS", default_value_t = 30)]
    pub jwt_jwks_cooldown_secs: u64,

    /// Milliseconds a fetch of --jwt-jwks-url may take (connect, headers and body).
    #[arg(long, env = "HERALD_JWT_JWKS_TIMEOUT_MS", default_value_t = 5_000)]
    pub jwt_jwks_timeout_ms: u64,

    /// Accepted token issuers (iss); repeat or separate with commas (unset: iss is not checked).
    #[arg(long, env = "HERALD_JWT_ISSUER", value_delimiter = ',')]
    #[serde(default)]
    pub jwt_issuer: Vec<String>,

    /// Accepted token audiences (aud); repeat or separate with commas (unset: aud is not checked).
    #[arg(long, env = "HERALD_JWT_AUDIENCE", value_delimiter = ',')]
    #[serde(default)]
    pub jwt_audience: Vec<String>,

    /// Seconds of clock skew allowed on exp and nbf.
    #[arg(long, env = "HERALD_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Largest token accepted, in bytes; longer ones are refused undecoded.
    #[arg(long, env = "HERALD_JWT_MAX_BYTES", default_value_t = 8192)]
    pub jwt_max_bytes: usize,

    /// Rooms anonymous connections may read (exact names and prefix:* patterns; '*' alone: every room). Default: none on Redis, every room with --standalone.
    #[arg(long, env = "HERALD_PUBLIC_ROOMS", value_delimiter = ',')]
    #[serde(default)]
    pub public_rooms: Vec<String>,

    /// Milliseconds a connection has to send its token when anonymous connections may read nothing; then it is closed with 4009.
    #[arg(long, env = "HERALD_AUTH_TIMEOUT_MS", default_value_t = 5000)]
    pub auth_timeout_ms: u64,

    /// Frames a second a client may send on average; faster ones get error 109, then the connection is closed with 4010.
    #[arg(long, env = "HERALD_MAX_CLIENT_FRAMES_PER_SEC", default_value_t = 100)]
    pub max_client_frames_per_sec: u32,

    /// Frames a client may send at once before the per-second rate applies.
    #[arg(long, env = "HERALD_CLIENT_FRAMES_BURST", default_value_t = 200)]
    pub client_frames_burst: u32,

    /// Subscribe requests a second a client may send on average (native subscribe frames, Socket.IO subscribe events); faster ones get error 109, then the connection is closed with 4012.
    #[arg(long, env = "HERALD_MAX_SUBSCRIBES_PER_SEC", default_value_t = 10)]
    pub max_subscribes_per_sec: u32,

    /// Subscribe requests a client may send at once before the per-second rate applies.
    #[arg(long, env = "HERALD_SUBSCRIBES_BURST", default_value_t = 50)]
    pub subscribes_burst: u32,

    /// Most client connections accepted whose first request's headers have not arrived yet; a connection past it is closed at once (upgraded and answered connections never count).
    #[arg(
        long,
        env = "HERALD_MAX_PENDING_HTTP_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_pending_http_connections: usize,

    /// Rooms whose subscribers get presence events (a user's join and leave), as room patterns (exact names and prefix:* patterns), comma-separated; none by default.
    #[arg(long, env = "HERALD_PRESENCE_ROOMS", value_delimiter = ',')]
    #[serde(default)]
    pub presence_rooms: Vec<String>,

    /// Presence rooms with more local subscribers than this get no presence events (1 to 100000).
    #[arg(long, env = "HERALD_PRESENCE_MAX_MEMBERS", default_value_t = 1000)]
    pub presence_max_members: usize,

    /// Most simultaneous client connections; more are refused with close code 4004.
    #[arg(long, env = "HERALD_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Most simultaneous client connections from one address (0: no limit, the default); more are refused like --max-connections.
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: u32,

    /// Proxies (addresses or ranges like 10.0.0.0/8, comma-separated, at most 64) whose X-Forwarded-For names the client for --max-connections-per-ip.
    #[arg(long, env = "HERALD_TRUSTED_PROXIES", value_delimiter = ',')]
    #[serde(default)]
    pub trusted_proxies: Vec<String>,

    /// Most rooms one connection may join; more get error 104.
    #[arg(long, env = "HERALD_MAX_ROOMS_PER_CONNECTION", default_value_t = 64)]
    pub max_rooms_per_connection: usize,

    /// Largest client frame in bytes; larger ones close the connection with 1009.
    #[arg(long, env = "HERALD_MAX_FRAME_BYTES", default_value_t = 65_536)]
    pub max_frame_bytes: usize,

    /// Messages queued for one connection before it is disconnected as slow (4002).
    #[arg(long, env = "HERALD_OUTBOX_MAX_MESSAGES", default_value_t = 1024)]
    pub outbox_max_messages: usize,

    /// Bytes queued for one connection before it is disconnected as slow (4002).
    #[arg(long, env = "HERALD_OUTBOX_MAX_BYTES", default_value_t = 1_048_576)]
    pub outbox_max_bytes: usize,

    /// Extra fan-out threads that write parts of large rooms (at least 512 local subscribers) in parallel; default: one per CPU core beyond the first. 0 writes every room on the bus reader's thread.
    #[arg(long, env = "HERALD_FANOUT_LANES")]
    pub fanout_lanes: Option<usize>,

    /// Milliseconds between server pings.
    #[arg(long, env = "HERALD_HEARTBEAT_INTERVAL_MS", default_value_t = 25_000)]
    pub heartbeat_interval_ms: u64,

    /// Milliseconds a connection may stay silent after a ping before it is closed (4003).
    #[arg(long, env = "HERALD_HEARTBEAT_TIMEOUT_MS", default_value_t = 20_000)]
    pub heartbeat_timeout_ms: u64,

    /// Milliseconds between the `: ping` comments on a Server-Sent Events stream (`/sse`), so proxies do not time it out (1 to 600000).
    #[arg(long, env = "HERALD_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub sse_heartbeat_ms: u64,

    /// Milliseconds a Server-Sent Events stream that the gateway ended (a slow consumer cut off, a drain) waits for its client to take the final events before the connection is dropped, so a client that stopped reading holds no socket (1 to 600000).
    #[arg(long, env = "HERALD_SSE_FINAL_GRACE_MS", default_value_t = 5_000)]
    pub sse_final_grace_ms: u64,

    /// Let clients publish to rooms (op "publish").
    #[arg(long, env = "HERALD_ALLOW_CLIENT_PUBLISH")]
    #[serde(default)]
    pub allow_client_publish: bool,

    /// Demo ticks per second in standalone mode; each tick places 1-3 orders and updates all four dashboard rooms (0: no demo feed).
    #[arg(long, env = "HERALD_DEMO_RATE", default_value_t = 1.0)]
    pub demo_rate: f64,

    /// Milliseconds SIGTERM waits for clients to leave before exiting.
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// Turn metric recording off (for measuring its cost).
    #[arg(long, env = "HERALD_NO_METRICS")]
    #[serde(default)]
    pub no_metrics: bool,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "HERALD_LOG", default_value = "info")]
    pub log: String,

    /// Log as JSON lines instead of text.
    #[arg(long, env = "HERALD_LOG_JSON")]
    #[serde(default)]
    pub log_json: bool,

    /// Socket.IO: milliseconds between Engine.IO pings (pingInterval).
    #[arg(
        long,
        env = "HERALD_SOCKETIO_PING_INTERVAL_MS",
        default_value_t = 25_000
    )]
    pub socketio_ping_interval_ms: u64,

    /// Socket.IO: milliseconds to wait for a pong before closing the session (pingTimeout).
    #[arg(
        long,
        env = "HERALD_SOCKETIO_PING_TIMEOUT_MS",
        default_value_t = 20_000
    )]
    pub socketio_ping_timeout_ms: u64,

    /// Socket.IO: largest Engine.IO message or polling request body, in bytes (maxPayload).
    #[arg(long, env = "HERALD_SOCKETIO_MAX_PAYLOAD", default_value_t = 1_000_000)]
    pub socketio_max_payload: usize,

    /// Socket.IO: namespaces clients may join, comma-separated (unset: all; "/" is always allowed).
    #[arg(long, env = "HERALD_SOCKETIO_NAMESPACES", value_delimiter = ',')]
    #[serde(default)]
    pub socketio_namespaces: Vec<String>,

    /// Socket.IO: the client event that subscribes to a room.
    #[arg(
        long,
        env = "HERALD_SOCKETIO_SUBSCRIBE_EVENT",
        default_value = "subscribe"
    )]
    pub socketio_subscribe_event: String,

    /// Socket.IO: the client event that leaves a room.
    #[arg(
        long,
        env = "HERALD_SOCKETIO_UNSUBSCRIBE_EVENT",
        default_value = "unsubscribe"
    )]
    pub socketio_unsubscribe_event: String,

    /// Socket.IO: the room a subscribe's first argument maps to ({arg} is replaced by it).
    #[arg(
        long,
        env = "HERALD_SOCKETIO_ROOM_TEMPLATE",
        default_value = "dashboard:{arg}"
    )]
    pub socketio_room_template: String,

    /// Socket.IO: whether a subscribe leaves the socket's other rooms first.
    #[arg(long, env = "HERALD_SOCKETIO_LEAVE_OTHERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub socketio_leave_others: bool,

    /// Socket.IO: connection state recovery (pid on CONNECT, an offset as every event's last argument; on a Redis bus it survives a gateway crash). `--socketio-recovery false` turns it off.
    #[arg(
        long,
        env = "HERALD_SOCKETIO_RECOVERY",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub socketio_recovery: bool,

    /// Socket.IO: milliseconds a disconnected socket's rooms are kept for recovery.
    #[arg(
        long,
        env = "HERALD_SOCKETIO_RECOVERY_WINDOW_MS",
        default_value_t = 120_000
    )]
    pub socketio_recovery_window_ms: u64,

    /// Origins whose pages may use the gateway: long-polling CORS and every WebSocket upgrade (/ws, /socket.io/; others get 403), comma-separated; `*` allows any origin (without credentials); empty allows only the gateway's own.
    #[arg(
        long,
        env = "HERALD_SOCKETIO_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub socketio_cors_origins: Vec<String>,

    /// Socket.IO: most namespaces one connection may join.
    #[arg(long, env = "HERALD_SOCKETIO_MAX_NAMESPACES", default_value_t = 8)]
    pub socketio_max_namespaces: usize,

    /// Socket.IO: the HTTP path the transport is served at, like the reference server's `path` option; starts and ends with `/`.
    #[arg(long, env = "HERALD_SOCKETIO_PATH", default_value = "/socket.io/")]
    pub socketio_path: String,

    /// Socket.IO: milliseconds a new Engine.IO session may take to send its first CONNECT before it is closed (the reference server's `connectTimeout`).
    #[arg(
        long,
        env = "HERALD_SOCKETIO_CONNECT_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    pub socketio_connect_timeout_ms: u64,

    /// Application backend: URL (http://) POSTed each Socket.IO CONNECT that passed the gateway's own checks; its reply may refuse it, name the user, emit events and join rooms (docs/proxy.md).
    #[arg(long, env = "HERALD_CONNECT_PROXY")]
    pub connect_proxy: Option<String>,

    /// Application backend: URL (http://) POSTed each Socket.IO client event the gateway does not handle itself; its reply may ack, emit events back, join and leave rooms (docs/proxy.md).
    #[arg(long, env = "HERALD_SOCKETIO_EVENT_PROXY")]
    pub socketio_event_proxy: Option<String>,

    /// Application backend: milliseconds a request may take before it fails with backend_failed (110).
    #[arg(long, env = "HERALD_PROXY_TIMEOUT_MS", default_value_t = 5_000)]
    pub proxy_timeout_ms: u64,

    /// Application backend: requests waiting across the node; more fail at once with backend_busy (111).
    #[arg(long, env = "HERALD_PROXY_MAX_IN_FLIGHT", default_value_t = 1_024)]
    pub proxy_max_in_flight: usize,

    /// Application backend: events one session may have waiting; more fail at once with backend_busy (111).
    #[arg(
        long,
        env = "HERALD_PROXY_MAX_IN_FLIGHT_PER_SESSION",
        default_value_t = 16
    )]
    pub proxy_max_in_flight_per_session: usize,

    /// Application backend: the largest reply body read, in bytes; a longer one fails with backend_failed (110).
    #[arg(
        long,
        env = "HERALD_PROXY_MAX_REPLY_BYTES",
        default_value_t = 1_048_576
    )]
    pub proxy_max_reply_bytes: usize,

    /// Application backend: a secret (16 to 512 bytes) sent as `Authorization: Bearer` on every request, so the backend can check the caller.
    #[arg(long, env = "HERALD_PROXY_SECRET", hide_env_values = true)]
    pub proxy_secret: Option<String>,

    /// Connect proxy: the handshake headers sent to the backend (comma-separated names, at most 32; empty sends none).
    #[arg(
        long,
        env = "HERALD_PROXY_HEADERS",
        value_delimiter = ',',
        default_value = "cookie,user-agent,x-forwarded-for"
    )]
    pub proxy_headers: Vec<String>,

    /// TLS on the client listener: PEM file with the certificate chain (leaf first); needs --tls-key-file. Reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "HERALD_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// TLS on the client listener: PEM file with the private key of --tls-cert-file.
    #[arg(long, env = "HERALD_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// TLS on the admin listener: PEM certificate chain; needs --admin-tls-key-file. Unset: the admin listener is plain HTTP (it does not fall back to --tls-cert-file).
    #[arg(long, env = "HERALD_ADMIN_TLS_CERT_FILE")]
    pub admin_tls_cert_file: Option<PathBuf>,

    /// TLS on the admin listener: PEM private key of --admin-tls-cert-file.
    #[arg(long, env = "HERALD_ADMIN_TLS_KEY_FILE")]
    pub admin_tls_key_file: Option<PathBuf>,

    /// Milliseconds between checks of the TLS files for changes (a change reloads them); 0 turns the watch off, leaving SIGHUP.
    #[arg(long, env = "HERALD_TLS_WATCH_INTERVAL_MS", default_value_t = 5_000)]
    pub tls_watch_interval_ms: u64,

    /// QUIC listener (WebTransport at https://HOST:PORT/wt, raw QUIC with ALPN `herald`): a UDP address, or `off`. Unset: off, except with --standalone, where it listens on the client listener's address and port on UDP.
    #[arg(long, env = "HERALD_QUIC_LISTEN")]
    pub quic_listen: Option<String>,

    /// QUIC: most bidirectional streams a client may have open at once (a WebTransport session uses 2: its CONNECT and the session stream; raw QUIC 1); 2 to 100.
    #[arg(long, env = "HERALD_QUIC_MAX_STREAMS", default_value_t = 4)]
    pub quic_max_streams: u32,

    /// QUIC: milliseconds of silence after which a connection is closed (keep-alives are sent well within it); 1000 to 600000.
    #[arg(long, env = "HERALD_QUIC_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    pub quic_idle_timeout_ms: u64,

    /// QUIC: handshakes in flight above which a new Initial from an unvalidated address is answered with a Retry (address validation under a flood); 0 always sends a Retry.
    #[arg(long, env = "HERALD_QUIC_RETRY_THRESHOLD", default_value_t = 64)]
    pub quic_retry_threshold: usize,

    /// TEST BUILDS ONLY: leak this many bytes per accepted connection, to
    /// prove the soak test's leak detector. It is an option only in a build
    /// with the `debug-leak` feature; every other build refuses it as an
    /// unknown argument (and as an unknown key in the TOML file), and keeps 0.
    #[cfg_attr(
        feature = "debug-leak",
        arg(
            long,
            env = "HERALD_DEBUG_LEAK_BYTES_PER_CONNECTION",
            default_value_t = 0,
            hide = true
        ),
        serde(default)
    )]
    #[cfg_attr(not(feature = "debug-leak"), arg(skip), serde(skip))]
    pub debug_leak_bytes_per_connection: usize,
}

impl GatewayArgs {
    /// The QUIC listener's settings; `None`: off.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a bad address or limit, QUIC enabled
    /// outside standalone mode without `--tls-cert-file`, or with
    /// `--connect-proxy` (not asked on QUIC yet).
    fn quic_config(
        &self,
        has_cert: bool,
        connect_proxy: bool,
    ) -> Result<Option<crate::quic::QuicConfig>, ConfigError> {
        use crate::quic::{CertSource, QuicConfig};
        let invalid = |message: &str| ConfigError::Invalid {
            option: "--quic-listen".to_owned(),
            message: message.to_owned(),
        };
        let listen = match self.quic_listen.as_deref() {
            Some("off") => return Ok(None),
            Some(a) => Some(
                a.parse::<SocketAddr>()
                    .map_err(|_| invalid("must be a UDP address (host:port) or `off`"))?,
            ),
            None if self.standalone && !connect_proxy => None,
            None => return Ok(None),
        };
        if connect_proxy {
            return Err(invalid(
                "cannot be combined with --connect-proxy yet (the connect proxy is not asked for QUIC sessions); use `off`",
            ));
        }
        let cert = if has_cert {
            CertSource::Listener
        } else if self.standalone {
            CertSource::SelfSigned
        } else {
            return Err(invalid(
                "needs --tls-cert-file and --tls-key-file (QUIC always uses TLS; only --standalone generates a self-signed certificate)",
            ));
        };
        if !(2..=100).contains(&self.quic_max_streams) {
            return Err(ConfigError::Invalid {
                option: "--quic-max-streams".to_owned(),
                message: "must be between 2 and 100".to_owned(),
            });
        }
        if !(1_000..=600_000).contains(&self.quic_idle_timeout_ms) {
            return Err(ConfigError::Invalid {
                option: "--quic-idle-timeout-ms".to_owned(),
                message: "must be between 1000 and 600000".to_owned(),
            });
        }
        if self.quic_retry_threshold > 1_000_000 {
            return Err(ConfigError::Invalid {
                option: "--quic-retry-threshold".to_owned(),
                message: "must be at most 1000000".to_owned(),
            });
        }
        Ok(Some(QuicConfig {
            listen,
            cert,
            max_streams: self.quic_max_streams,
            idle_timeout: Duration::from_millis(self.quic_idle_timeout_ms),
            retry_threshold: self.quic_retry_threshold,
        }))
    }

    /// Checks the arguments and builds the library's [`Config`].
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first unacceptable option.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let invalid = |option: &str, message: &str| ConfigError::Invalid {
            option: option.to_owned(),
            message: message.to_owned(),
        };
        let path_ok = self.socketio_path.len() >= 3
            && self.socketio_path.starts_with('/')
            && self.socketio_path.ends_with('/')
            && self
                .socketio_path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
            && !self.socketio_path.contains("//")
            && !["/ws/", "/api/"].contains(&self.socketio_path.as_str());
        if !path_ok {
            return Err(invalid(
                "--socketio-path",
                "must start and end with '/', name at least one segment of letters, digits, '-', '_', '.' or '~', and not be /ws/ or /api/",
            ));
        }
        if self.socketio_connect_timeout_ms == 0 || self.socketio_connect_timeout_ms > 600_000 {
            return Err(invalid(
                "--socketio-connect-timeout-ms",
                "must be between 1 and 600000",
            ));
        }
        if self.standalone && !self.redis_url.is_empty() {
            return Err(invalid(
                "--standalone",
                "cannot be combined with --redis-url",
            ));
        }
        if !self.standalone && self.redis_url.is_empty() {
            return Err(invalid(
                "--redis-url",
                "is required unless --standalone is given (try: herald-gateway --standalone)",
            ));
        }
        for (name, value) in [
            ("--max-connections", self.max_connections),
            ("--max-rooms-per-connection", self.max_rooms_per_connection),
            ("--outbox-max-messages", self.outbox_max_messages),
            ("--history-size", self.history_size),
            ("--bus-shards", self.bus_shards as usize),
            (
                "--heartbeat-interval-ms",
                self.heartbeat_interval_ms as usize,
            ),
            ("--heartbeat-timeout-ms", self.heartbeat_timeout_ms as usize),
            (
                "--socketio-ping-interval-ms",
                self.socketio_ping_interval_ms as usize,
            ),
            (
                "--socketio-ping-timeout-ms",
                self.socketio_ping_timeout_ms as usize,
            ),
            ("--socketio-max-namespaces", self.socketio_max_namespaces),
            (
                "--max-client-frames-per-sec",
                self.max_client_frames_per_sec as usize,
            ),
            ("--client-frames-burst", self.client_frames_burst as usize),
            (
                "--max-subscribes-per-sec",
                self.max_subscribes_per_sec as usize,
            ),
            ("--subscribes-burst", self.subscribes_burst as usize),
            (
                "--max-pending-http-connections",
                self.max_pending_http_connections,
            ),
            ("--presence-max-members", self.presence_max_members),
            ("--sse-heartbeat-ms", self.sse_heartbeat_ms as usize),
            ("--sse-final-grace-ms", self.sse_final_grace_ms as usize),
        ] {
            if value == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        for (name, value, max) in [
            (
                "--max-subscribes-per-sec",
                self.max_subscribes_per_sec as usize,
                100_000,
            ),
            (
                "--subscribes-burst",
                self.subscribes_burst as usize,
                100_000,
            ),
            (
                "--max-pending-http-connections",
                self.max_pending_http_connections,
                1_000_000,
            ),
            ("--presence-max-members", self.presence_max_members, 100_000),
            (
                "--sse-heartbeat-ms",
                self.sse_heartbeat_ms as usize,
                600_000,
            ),
            (
                "--sse-final-grace-ms",
                self.sse_final_grace_ms as usize,
                600_000,
            ),
        ] {
            if value > max {
                return Err(invalid(name, &format!("must be at most {max}")));
            }
        }
        let presence_rooms = herald_protocol::RoomPatterns::parse(
            self.presence_rooms
                .iter()
                .map(|r| r.trim())
                .filter(|r| !r.is_empty()),
        )
        .map_err(|e| invalid("--presence-rooms", &e.to_string()))?;
        if self.max_frame_bytes < 256 {
            return Err(invalid("--max-frame-bytes", "must be at least 256"));
        }
        if self.outbox_max_bytes < self.max_frame_bytes {
            return Err(invalid(
                "--outbox-max-bytes",
                "must be at least --max-frame-bytes",
            ));
        }
        if self.fanout_lanes.is_some_and(|n| n > 64) {
            return Err(invalid("--fanout-lanes", "must be at most 64"));
        }
        if self.snapshot_depth > self.history_size {
            return Err(invalid(
                "--snapshot-depth",
                "must not exceed --history-size",
            ));
        }
        if !(self.demo_rate.is_finite() && (0.0..=10_000.0).contains(&self.demo_rate)) {
            return Err(invalid("--demo-rate", "must be between 0 and 10000"));
        }
        for url in &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid(
                    "--redis-url",
                    &format!("{url:?} must start with redis:// or rediss://"),
                ));
            }
        }
        if self.socketio_max_payload < 256 {
            return Err(invalid("--socketio-max-payload", "must be at least 256"));
        }
        if !self.socketio_room_template.contains("{arg}") {
            return Err(invalid(
                "--socketio-room-template",
                "must contain {arg}, the subscribe event's first argument",
            ));
        }
        for (option, event) in [
            ("--socketio-subscribe-event", &self.socketio_subscribe_event),
            (
                "--socketio-unsubscribe-event",
                &self.socketio_unsubscribe_event,
            ),
        ] {
            if event.is_empty() || herald_protocol::sio::RESERVED_EVENTS.contains(&event.as_str()) {
                return Err(invalid(
                    option,
                    "must be a non-empty, non-reserved event name",
                ));
            }
        }
        for nsp in &self.socketio_namespaces {
            if !nsp.starts_with('/') || nsp.len() > herald_protocol::sio::MAX_NSP_BYTES {
                return Err(invalid(
                    "--socketio-namespaces",
                    &format!("{nsp:?} must start with / and be at most 256 bytes"),
                ));
            }
        }
        let api_keys = self.api_keys()?;
        let auth = self.auth_gate()?;
        let proxy = self.proxy_config()?;
        let trusted_proxies = self.trusted_proxies()?;
        let tls = self.tls_config()?;
        let quic = self.quic_config(tls.client.is_some(), self.connect_proxy.is_some())?;
        let jwks_url = self.jwks_url()?;
        let node_id = match self.node_id {
            Some(id)
                if id.is_empty()
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                return Err(invalid(
                    "--node-id",
                    "must be non-empty ASCII letters, digits, '-', '_' or '.'",
                ));
            }
            Some(id) => id,
            None => format!("gw-{:06x}", rand::random::<u32>() & 0xff_ffff),
        };
        let history_ttl = Duration::from_secs(self.history_ttl_secs);
        let bus = if self.standalone {
            BusChoice::Memory {
                history_size: self.history_size,
                history_ttl,
                max_rooms: self.max_rooms,
            }
        } else {
            BusChoice::Redis {
                urls: self.redis_url,
                cluster: self.redis_cluster,
                shards: self.bus_shards,
                history_size: self.history_size,
                history_ttl,
            }
        };
        Ok(Config {
            tls,
            quic,
            jwks_url,
            auth,
            listen: self.listen,
            admin_listen: self.admin_listen,
            node_id,
            bus,
            api_keys,
            proxy,
            metrics_require_key: self.metrics_require_key,
            limits: Limits {
                max_connections: self.max_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                trusted_proxies,
                max_rooms_per_connection: self.max_rooms_per_connection,
                max_frame_bytes: self.max_frame_bytes,
                outbox_max_messages: self.outbox_max_messages,
                outbox_max_bytes: self.outbox_max_bytes,
                frame_rate: crate::transport::rate::FrameRate {
                    per_sec: self.max_client_frames_per_sec as f32,
                    burst: self.client_frames_burst as f32,
                },
                subscribe_rate: crate::transport::rate::FrameRate {
                    per_sec: self.max_subscribes_per_sec as f32,
                    burst: self.subscribes_burst as f32,
                },
                max_pending_http: self.max_pending_http_connections,
            },
            presence: crate::hub::presence::PresenceConfig {
                rooms: presence_rooms,
                max_members: self.presence_max_members,
            },
            fanout_lanes: self.fanout_lanes.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map_or(1, std::num::NonZeroUsize::get)
                    .saturating_sub(1)
            }),
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            heartbeat_timeout: Duration::from_millis(self.heartbeat_timeout_ms),
            sse_heartbeat: Duration::from_millis(self.sse_heartbeat_ms),
            sse_final_grace: Duration::from_millis(self.sse_final_grace_ms),
            snapshot_depth: self.snapshot_depth,
            allow_client_publish: self.allow_client_publish,
            demo_rate: if self.standalone { self.demo_rate } else { 0.0 },
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            metrics_enabled: !self.no_metrics,
            #[cfg(feature = "debug-leak")]
            debug_leak_bytes_per_connection: self.debug_leak_bytes_per_connection,
            socketio: SocketIoConfig {
                ping_interval: Duration::from_millis(self.socketio_ping_interval_ms),
                ping_timeout: Duration::from_millis(self.socketio_ping_timeout_ms),
                max_payload: self.socketio_max_payload,
                namespaces: (!self.socketio_namespaces.is_empty())
                    .then_some(self.socketio_namespaces),
                subscribe_event: self.socketio_subscribe_event,
                unsubscribe_event: self.socketio_unsubscribe_event,
                room_template: self.socketio_room_template,
                leave_others: self.socketio_leave_others,
                recovery: self.socketio_recovery,
                recovery_window: Duration::from_millis(self.socketio_recovery_window_ms),
                max_namespaces: self.socketio_max_namespaces,
                path: self.socketio_path,
                connect_timeout: Duration::from_millis(self.socketio_connect_timeout_ms),
                cors_origins: self
                    .socketio_cors_origins
                    .into_iter()
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_service::config::{ParseOutcome, parse_args};

    fn parse(args: &[&str]) -> Result<GatewayArgs, ParseOutcome> {
        parse_args::<GatewayArgs>(
            std::iter::once("herald-gateway")
                .chain(args.iter().copied())
                .map(Into::into),
        )
    }

    #[test]
    fn standalone_needs_nothing_else() {
        let c = parse(&["--standalone"]).unwrap().into_config().unwrap();
        assert!(matches!(c.bus, BusChoice::Memory { .. }));
        assert_eq!(c.listen.port(), 8080);
    }

    #[test]
    fn without_standalone_a_redis_url_is_required() {
        let e = parse(&[]).unwrap().into_config().unwrap_err();
        assert!(e.to_string().contains("--redis-url"), "{e}");
    }

    #[test]
    fn file_values_fill_defaults_but_flags_win() {
        let dir = std::env::temp_dir().join(format!("herald-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.toml");
        std::fs::write(
            &path,
            "standalone = true\nmax-rooms-per-connection = 5\nlisten = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let a = parse(&[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:2",
        ])
        .unwrap();
        assert!(a.standalone);
        assert_eq!(a.max_rooms_per_connection, 5);
        assert_eq!(a.listen.port(), 2);

        std::fs::write(&path, "max_moons = 5\n").unwrap();
        let Err(ParseOutcome::Config(e)) = parse(&["--config", path.to_str().unwrap()]) else {
            panic!()
        };
        assert!(e.to_string().contains("unknown option `max_moons`"), "{e}");

        std::fs::write(&path, "history_size = \"many\"\n").unwrap();
        let Err(ParseOutcome::Config(e)) = parse(&["--config", path.to_str().unwrap()]) else {
            panic!()
        };
        assert!(
            e.to_string().contains("history_size") || e.to_string().contains("invalid type"),
            "{e}"
        );
    }

    #[test]
    fn recovery_is_on_by_default_and_turns_off_by_flag_or_file() {
        let on = parse(&["--standalone"]).unwrap().into_config().unwrap();
        assert!(on.socketio.recovery);
        let bare = parse(&["--standalone", "--socketio-recovery"]).unwrap();
        assert!(bare.socketio_recovery);
        let off = parse(&["--standalone", "--socketio-recovery", "false"]).unwrap();
        assert!(!off.into_config().unwrap().socketio.recovery);
        let dir = std::env::temp_dir().join(format!("herald-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.toml");
        std::fs::write(&path, "standalone = true\nsocketio_recovery = false\n").unwrap();
        let file = parse(&["--config", path.to_str().unwrap()]).unwrap();
        assert!(!file.socketio_recovery);
    }

    #[test]
    fn the_abuse_limits_and_presence_have_finite_defaults_and_read_flags_and_files() {
        let c = parse(&["--standalone"]).unwrap().into_config().unwrap();
        assert_eq!(c.limits.subscribe_rate.per_sec, 10.0);
        assert_eq!(c.limits.subscribe_rate.burst, 50.0);
        assert_eq!(c.limits.max_pending_http, 10_000);
        assert!(c.presence.rooms.is_empty(), "no presence rooms by default");
        assert_eq!(c.presence.max_members, 1000);
        let c = parse(&[
            "--standalone",
            "--max-subscribes-per-sec",
            "3",
            "--presence-rooms",
            "chat:*,lobby",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        assert_eq!(c.limits.subscribe_rate.per_sec, 3.0);
        assert!(
            c.presence
                .rooms
                .allows(&herald_protocol::RoomName::new("chat:1").unwrap())
        );
        assert!(
            c.presence
                .rooms
                .allows(&herald_protocol::RoomName::new("lobby").unwrap())
        );
        assert!(
            !c.presence
                .rooms
                .allows(&herald_protocol::RoomName::new("news:1").unwrap())
        );
        let dir = std::env::temp_dir().join(format!("herald-abuse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.toml");
        std::fs::write(
            &path,
            "standalone = true\nmax-pending-http-connections = 7\nsubscribes_burst = 4\npresence-rooms = [\"chat:*\"]\npresence-max-members = 9\n",
        )
        .unwrap();
        let c = parse(&["--config", path.to_str().unwrap()])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(c.limits.max_pending_http, 7);
        assert_eq!(c.limits.subscribe_rate.burst, 4.0);
        assert_eq!(c.presence.max_members, 9);
        assert!(
            c.presence
                .rooms
                .allows(&herald_protocol::RoomName::new("chat:x").unwrap())
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        for (args, option) in [
            (
                vec!["--standalone", "--max-frame-bytes", "10"],
                "--max-frame-bytes",
            ),
            (vec!["--redis-url", "http://x"], "--redis-url"),
            (
                vec!["--standalone", "--snapshot-depth", "500"],
                "--snapshot-depth",
            ),
            (vec!["--standalone", "--node-id", "a b"], "--node-id"),
            (
                vec!["--standalone", "--connect-proxy", "https://backend/"],
                "--connect-proxy",
            ),
            (
                vec!["--standalone", "--connect-proxy", "http://user:pw@backend/"],
                "--connect-proxy",
            ),
            (
                vec!["--standalone", "--socketio-event-proxy", "not a url"],
                "--socketio-event-proxy",
            ),
            (
                vec!["--standalone", "--proxy-timeout-ms", "0"],
                "--proxy-timeout-ms",
            ),
            (
                vec!["--standalone", "--proxy-max-reply-bytes", "10"],
                "--proxy-max-reply-bytes",
            ),
            (
                vec!["--standalone", "--proxy-secret", "short"],
                "--proxy-secret",
            ),
            (
                vec!["--standalone", "--proxy-headers", "bad name"],
                "--proxy-headers",
            ),
            (
                vec!["--standalone", "--trusted-proxies", "10.0.0.0/40"],
                "--trusted-proxies",
            ),
            (
                vec!["--standalone", "--trusted-proxies", "nope"],
                "--trusted-proxies",
            ),
            (
                vec!["--standalone", "--max-subscribes-per-sec", "0"],
                "--max-subscribes-per-sec",
            ),
            (
                vec!["--standalone", "--subscribes-burst", "1000000"],
                "--subscribes-burst",
            ),
            (
                vec!["--standalone", "--max-pending-http-connections", "0"],
                "--max-pending-http-connections",
            ),
            (
                vec!["--standalone", "--presence-rooms", "chat*"],
                "--presence-rooms",
            ),
            (
                vec!["--standalone", "--presence-max-members", "0"],
                "--presence-max-members",
            ),
        ] {
            let e = parse(&args).unwrap().into_config().unwrap_err();
            assert!(e.to_string().contains(option), "{e}");
        }
        assert!(matches!(
            parse(&["--max-connections", "lots"]),
            Err(ParseOutcome::Clap(_))
        ));
    }
}
