//! The QUIC endpoint: one UDP socket serving WebTransport (ALPN `h3`) and
//! raw QUIC (ALPN `herald`), dispatched on the ALPN each handshake
//! negotiated.
//!
//! - **0-RTT is off**: the TLS config's `max_early_data_size` is 0, so no
//!   replayable early data is ever accepted.
//! - **Address validation**: while more than `--quic-retry-threshold`
//!   handshakes are in flight, an Initial from an unvalidated address is
//!   answered with a Retry (counted in `herald_gateway_quic_retries_total`);
//!   a spoofed source never gets a handshake's worth of work.
//! - Each handshake is bounded by [`HANDSHAKE_TIMEOUT`]; a failed one is
//!   counted in `herald_gateway_quic_handshake_failures_total`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use web_transport_quinn::quinn;

use herald_protocol::native::CloseCode;

use super::{ALPN_H3, ALPN_HERALD, QuicConfig, WT_PATH, keep_alive};
use crate::server::AppState;
use crate::tls::resolver::ReloadableCert;

/// Longest a QUIC handshake plus (for WebTransport) its CONNECT may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the QUIC listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The TLS configuration was refused.
    #[error("QUIC TLS: {0}")]
    Tls(String),
    /// The UDP socket could not bind.
    #[error("cannot listen on {addr}/udp: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// The quinn server configuration: TLS 1.3 only, ALPN `h3` and `herald`,
/// no early data, the stream and idle limits of `config`.
///
/// # Errors
/// [`EndpointError::Tls`] if rustls or quinn refuse the configuration.
pub fn server_config(
    cert: Arc<ReloadableCert>,
    config: &QuicConfig,
    heartbeat: Duration,
    max_frame_bytes: usize,
) -> Result<quinn::ServerConfig, EndpointError> {
    let tls_err = |e: &dyn std::fmt::Display| EndpointError::Tls(e.to_string());
    let mut tls = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    tls.alpn_protocols = vec![ALPN_H3.to_vec(), ALPN_HERALD.to_vec()];
    // 0-RTT data is replayable: never accept it.
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| tls_err(&e))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(config.max_streams))
        // HTTP/3 needs the client's control and QPACK streams.
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(3))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(config.idle_timeout).map_err(|e| tls_err(&e))?,
        ))
        .keep_alive_interval(Some(keep_alive(config.idle_timeout, heartbeat)))
        // A frame and its head, twice over: enough to never stall a
        // client within the frame limit, and finite.
        .stream_receive_window(quinn::VarInt::from_u32(
            u32::try_from(2 * (max_frame_bytes + 5)).unwrap_or(u32::MAX),
        ))
        .receive_window(quinn::VarInt::from_u32(
            u32::try_from(8 * (max_frame_bytes + 5)).unwrap_or(u32::MAX),
        ))
        .send_window(1 << 20)
        .datagram_receive_buffer_size(Some(16 * 1024));
    server.transport_config(Arc::new(transport));
    Ok(server)
}

/// Binds the endpoint at `addr`.
///
/// # Errors
/// [`EndpointError::Bind`] if the UDP socket cannot bind.
pub fn bind(
    addr: SocketAddr,
    server: quinn::ServerConfig,
) -> Result<quinn::Endpoint, EndpointError> {
    quinn::Endpoint::server(server, addr).map_err(|source| EndpointError::Bind { addr, source })
}

/// Handshakes in flight; each one's guard gives its place back.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections until `stop`, then refuses new ones and waits (at
/// most `grace` and a little) for the sessions, which close themselves on
/// the gateway's shutdown, to drain.
pub async fn run(
    endpoint: quinn::Endpoint,
    state: Arc<AppState>,
    stop: CancellationToken,
    grace: Duration,
) {
    let metrics = state.hub.metrics().clone();
    metrics.quic_up(true);
    let threshold = state.config.quic.as_ref().map_or(0, |q| q.retry_threshold);
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            () = stop.cancelled() => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
        };
        if !incoming.remote_address_validated() && in_flight.load(Ordering::Acquire) >= threshold {
            metrics.quic_retry();
            tracing::debug!(peer = %incoming.remote_address(), "QUIC Retry");
            if incoming.retry().is_err() {
                tracing::debug!("QUIC Retry refused");
            }
            continue;
        }
        in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(in_flight.clone());
        let state2 = state.clone();
        state.tracker.spawn(handle(incoming, state2, guard));
    }
    metrics.quic_up(false);
    // Sessions send their own 4001; wait for their close to be delivered.
    endpoint.set_server_config(None);
    let _ = tokio::time::timeout(grace + Duration::from_secs(1), endpoint.wait_idle()).await;
    endpoint.close(
        quinn::VarInt::from_u32(u32::from(CloseCode::Shutdown as u16)),
        b"shutdown",
    );
}

/// One connection: the handshake, the ALPN dispatch, then the session.
async fn handle(incoming: quinn::Incoming, state: Arc<AppState>, guard: InFlight) {
    let metrics = state.hub.metrics().clone();
    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let conn = incoming
            .await
            .map_err(|e| ("quic", "handshake", e.to_string()))?;
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol);
        match alpn.as_deref() {
            Some(ALPN_HERALD) => Ok((web_transport_quinn::Session::raw(conn), "quic", None)),
            Some(ALPN_H3) => {
                let request = web_transport_quinn::Request::accept(conn)
                    .await
                    .map_err(|e| ("webtransport", "session", e.to_string()))?;
                if request.url.path() != WT_PATH {
                    let _ = request
                        .reject(web_transport_quinn::http::StatusCode::NOT_FOUND)
                        .await;
                    return Err(("webtransport", "session", "not /wt".to_owned()));
                }
                if !origin_allowed(&state.config.socketio.cors_origins, &request) {
                    let _ = request
                        .reject(web_transport_quinn::http::StatusCode::FORBIDDEN)
                        .await;
                    return Err(("webtransport", "session", "origin not allowed".to_owned()));
                }
                let query = request.url.query().map(str::to_owned);
                let session = request
                    .ok()
                    .await
                    .map_err(|e| ("webtransport", "session", e.to_string()))?;
                Ok((session, "webtransport", query))
            }
            _ => Err(("quic", "handshake", "no known ALPN".to_owned())),
        }
    })
    .await;
    drop(guard);
    let (session, transport, query) = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err((transport, stage, e))) => {
            metrics.quic_handshake_failure(transport, stage);
            tracing::debug!(transport, stage, error = %e, "QUIC connection failed");
            return;
        }
        Err(_) => {
            metrics.quic_handshake_failure("quic", "handshake");
            tracing::debug!("QUIC handshake timed out");
            return;
        }
    };
    let session_id = state.new_session_id();
    let span = crate::transport::span::connection(&session_id, transport);
    tracing::Instrument::instrument(
        super::session::run(session, transport, query, session_id, state),
        span,
    )
    .await;
}

/// Whether a WebTransport CONNECT passes the origin policy of every
/// browser transport (`crate::http::origin`): no `Origin` (a non-browser
/// client), the gateway's own origin (the CONNECT's authority, whatever the
/// scheme: a page served over `http://127.0.0.1:8080` opens
/// `https://127.0.0.1:8080/wt`), or one `--socketio-cors-origins` allows. A
/// refused CONNECT gets 403, so a foreign page cannot open a session that
/// rides the user's cookies or tokens.
fn origin_allowed(
    origins: &[String],
    request: &web_transport_quinn::proto::ConnectRequest,
) -> bool {
    use axum::http::{HeaderMap, HeaderValue, header};
    let mut headers = HeaderMap::new();
    if let Some(o) = request.headers.get(header::ORIGIN) {
        headers.insert(header::ORIGIN, o.clone());
    }
    if let Some(host) = request.url.host_str() {
        let authority = match request.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        if let Ok(v) = HeaderValue::from_str(&authority) {
            headers.insert(header::HOST, v);
        }
    }
    crate::http::origin::upgrade_allowed(origins, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(origin: Option<&str>) -> web_transport_quinn::proto::ConnectRequest {
        let url = url::Url::parse("https://127.0.0.1:8080/wt").unwrap();
        let mut r = web_transport_quinn::proto::ConnectRequest::new(url);
        if let Some(o) = origin {
            r.headers
                .insert(axum::http::header::ORIGIN, o.parse().unwrap());
        }
        r
    }

    #[test]
    fn a_connect_from_a_foreign_page_is_refused_unless_listed() {
        let only = vec!["https://app.example".to_owned()];
        assert!(
            origin_allowed(&only, &connect(None)),
            "no Origin: not a browser"
        );
        assert!(
            origin_allowed(&only, &connect(Some("http://127.0.0.1:8080"))),
            "the gateway's own page"
        );
        assert!(origin_allowed(&only, &connect(Some("https://app.example"))));
        assert!(!origin_allowed(
            &only,
            &connect(Some("https://evil.example"))
        ));
        assert!(!origin_allowed(
            &only,
            &connect(Some("http://127.0.0.1:9999"))
        ));
        let any = vec!["*".to_owned()];
        assert!(origin_allowed(&any, &connect(Some("https://evil.example"))));
    }
}
