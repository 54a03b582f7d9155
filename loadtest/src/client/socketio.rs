//! Socket.IO client mode (WebSocket-only Engine.IO v4 + Socket.IO v5).
//!
//! Waiting for the `herald_protocol::sio` codec to land; until then a run
//! with `--transport socketio` fails up front with a clear error.

use std::net::IpAddr;

use super::{ClientError, ConnectOptions, Connection, Target, Transport};

/// Opens a Socket.IO connection (not implemented yet).
///
/// # Errors
/// Always [`ClientError::Unsupported`] for now.
pub async fn connect(
    _target: &Target,
    _src: IpAddr,
    _opts: ConnectOptions,
) -> Result<Connection, ClientError> {
    Err(ClientError::Unsupported(Transport::SocketIo))
}
