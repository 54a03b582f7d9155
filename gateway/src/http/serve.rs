//! The accept loop shared by both listeners, plain or TLS.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use super::pending::PendingLimit;
use crate::proxy::handshake::PeerAddr;
use crate::tls::handshake::{self, HANDSHAKE_TIMEOUT};

/// How long a client may take to send request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the HTTP connection a request came on, in every request's
/// extensions: cancelling it drops the connection at once, socket and all.
/// A streaming response whose client stopped reading (an SSE stream cut
/// off as a slow consumer) uses it, because hyper cannot end a response
/// whose bytes the socket will not take.
#[derive(Debug, Clone)]
pub struct ConnAbort(pub CancellationToken);

/// Serves one HTTP/1 connection on `$io` until it ends, `$abort` fires
/// (then drops it), or `$stop` fires (then finishes in-flight requests,
/// for at most 5 s).
macro_rules! serve_http {
    ($io:expr, $service:expr, $stop:expr, $abort:expr) => {{
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new($io), $service)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            () = $abort.cancelled() => {}
            () = $stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
            }
        }
    }};
}

/// Serves `app` on `listener` until `stop` fires; then stops accepting and
/// lets in-flight requests finish. Upgraded connections live on in their
/// own tasks (on `tracker`). With `tls`, each connection's handshake runs
/// in its own task, under [`HANDSHAKE_TIMEOUT`], so a slow client never
/// holds up the loop. With `pending`, a connection accepted while its cap
/// of connections without a first request is reached is closed at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
    tracker: TaskTracker,
    pending: Option<Arc<PendingLimit>>,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE: out of file descriptors. Back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match &pending {
            Some(limit) => match limit.try_take() {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, "too many connections without a request; closed");
                    drop(stream);
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        // Every request knows its peer (the connect proxy passes it on);
        // the first one ends the connection's pending time.
        let first = slot.clone();
        let abort = CancellationToken::new();
        let abort_handle = ConnAbort(abort.clone());
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                if let Some(slot) = &first {
                    slot.release();
                }
                req.extensions_mut().insert(PeerAddr(peer));
                req.extensions_mut().insert(abort_handle.clone());
                req
            },
        ));
        let stop = stop.clone();
        let tls = tls.clone();
        tracker.spawn(async move {
            // Released when the connection ends, if no request did it first.
            let _slot = slot;
            let Some(acceptor) = tls else {
                serve_http!(stream, service, stop, abort);
                return;
            };
            let accepted = tokio::select! {
                r = handshake::accept(&acceptor, stream, HANDSHAKE_TIMEOUT) => r,
                () = stop.cancelled() => return,
            };
            match accepted {
                Ok(tls_stream) => serve_http!(tls_stream, service, stop, abort),
                Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            }
        });
    }
}
