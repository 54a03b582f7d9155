//! The server side of a TLS handshake, bounded in time.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::ServerStream;

/// How long a client may take to complete its TLS handshake (slowloris:
/// a connection that never finishes holds only its socket and rustls'
/// buffers until then).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Not done within [`HANDSHAKE_TIMEOUT`].
    #[error("TLS handshake not finished within {0:?}")]
    Timeout(Duration),
    /// The client sent something that is not a TLS handshake we accept,
    /// or went away.
    #[error("TLS handshake failed: {0}")]
    Failed(#[from] std::io::Error),
}

/// Completes the handshake on `stream`, within `timeout`. Runs in the
/// connection's own task, never in the accept loop.
///
/// # Errors
/// [`HandshakeError`]: the connection is to be dropped.
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Result<ServerStream, HandshakeError> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(HandshakeError::Timeout(timeout)),
    }
}
