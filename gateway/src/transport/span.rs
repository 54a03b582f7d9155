//! The per-connection tracing span: every log line of a connection
//! carries its session id, transport and peer address.

use tracing::Span;

/// The span a connection's task runs in. `peer` is recorded once known
/// (`span.record("peer", …)`).
pub fn connection(session: &str, transport: &'static str) -> Span {
    tracing::info_span!("conn", session, transport, peer = tracing::field::Empty)
}

/// Records the peer address in the current connection span.
pub fn record_peer(peer: impl std::fmt::Display) {
    Span::current().record("peer", tracing::field::display(peer));
}
