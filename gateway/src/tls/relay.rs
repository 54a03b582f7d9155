//! A TLS connection's plaintext as a local socket.
//!
//! The WebSocket transports write deliveries to their socket directly,
//! with non-blocking writes from the fan-out's threads (`transport::link`),
//! which a TLS session (one state machine for both directions) cannot
//! take. So an upgraded TLS connection is given one end of a local stream
//! pair as its [`Socket`], and a task relays bytes between the other end
//! and the TLS stream: the transports stay the same for both kinds.

use std::io;

use tokio::net::UnixStream;
use tokio_util::task::TaskTracker;

use super::ServerStream;
use crate::transport::socket::Socket;

/// Bytes the relay buffers in each direction.
pub const RELAY_BUFFER: usize = 4096;

/// The socket the transports use for `tls`; the relay runs on `tracker`
/// until either side closes. A half-close by the transport becomes TLS
/// `close_notify` and FIN; the client's close becomes EOF on the socket.
///
/// # Errors
/// When the local stream pair cannot be created (out of descriptors).
pub fn plaintext_socket(tls: ServerStream, tracker: &TaskTracker) -> io::Result<Socket> {
    let peer = tls.get_ref().0.peer_addr()?;
    let (inner, mut outer) = UnixStream::pair()?;
    let mut tls = tls;
    tracker.spawn(async move {
        let _ = tokio::io::copy_bidirectional_with_sizes(
            &mut tls,
            &mut outer,
            RELAY_BUFFER,
            RELAY_BUFFER,
        )
        .await;
    });
    Ok(Socket::Relayed {
        stream: inner,
        peer,
    })
}
