//! Herald's native protocol over QUIC: WebTransport over HTTP/3 at
//! `https://HOST:PORT/wt` for browsers, and raw QUIC (ALPN `herald`) for
//! other clients, on one UDP port (`docs/protocol.md`, "Transports").
//!
//! # Layout
//! - [`endpoint`]: the quinn endpoint, its accept loop (address
//!   validation with Retry under load, no 0-RTT), and the dispatch on the
//!   negotiated ALPN: `h3` → a WebTransport CONNECT to `/wt`, `herald` →
//!   a raw session.
//! - [`cert`]: the certificate: the client listener's (reloaded with it),
//!   or in standalone mode a self-signed ECDSA P-256 one valid for 13
//!   days, rotated at half-life, whose SHA-256 `GET /wt/certificate-hash`
//!   serves for `serverCertificateHashes`.
//! - [`session`]: one session's task: the native session
//!   (`native::conn::Conn`) on the bidirectional stream the client opens,
//!   framed with `herald_protocol::stream`.
//!
//! Both transports run on `web_transport_quinn` sessions (a raw QUIC
//! connection is wrapped with `Session::raw`), so one driver serves both.

pub mod cert;
pub mod endpoint;
pub mod session;

use std::net::SocketAddr;
use std::time::Duration;

/// ALPN of raw QUIC sessions.
pub const ALPN_HERALD: &[u8] = b"herald";
/// ALPN of HTTP/3, which WebTransport runs on.
pub const ALPN_H3: &[u8] = b"h3";
/// The WebTransport path.
pub const WT_PATH: &str = "/wt";

/// The QUIC listener's settings (`--quic-*`).
#[derive(Debug, Clone)]
pub struct QuicConfig {
    /// The UDP address; `None`: the client listener's address and port
    /// (as bound), on UDP.
    pub listen: Option<SocketAddr>,
    /// Where the certificate comes from.
    pub cert: CertSource,
    /// Most bidirectional streams a client may have open at once
    /// (`--quic-max-streams`): a WebTransport session uses two (its
    /// CONNECT and the session stream), raw QUIC one.
    pub max_streams: u32,
    /// A connection silent this long is closed by QUIC
    /// (`--quic-idle-timeout-ms`).
    pub idle_timeout: Duration,
    /// Handshakes in flight above which a new, unvalidated Initial is
    /// answered with a Retry (`--quic-retry-threshold`; 0: always).
    pub retry_threshold: usize,
}

/// Where the QUIC listener's certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertSource {
    /// The client listener's `--tls-cert-file`/`--tls-key-file`, reloaded
    /// with it.
    Listener,
    /// Self-signed and rotated ([`cert::SelfSigned`]): standalone mode
    /// without a configured certificate.
    SelfSigned,
}

/// The QUIC keep-alive interval for a session whose idle timeout is
/// `idle`: at most the native heartbeat interval, and well inside `idle`.
pub fn keep_alive(idle: Duration, heartbeat: Duration) -> Duration {
    heartbeat.min(idle / 3).max(Duration::from_millis(100))
}
