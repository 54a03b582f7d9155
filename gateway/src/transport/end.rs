//! How a connection ends, and the one mapping from what went wrong to the
//! close code or disconnect reason every transport reports.

use std::io;

use herald_protocol::native::CloseCode;
use herald_protocol::ws::WsError;

use super::link::{Closed, gone_reason};

/// Logs the gateway closing a connection with `code`: a slow consumer at
/// `info` (an operator wants to see those), anything else at `debug`.
pub fn log_close(code: CloseCode) {
    if code == CloseCode::SlowConsumer {
        tracing::info!("disconnected as a slow consumer");
    } else {
        tracing::debug!(code = code.name(), "closing");
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The gateway closes with this code (and tells the client).
    Close(CloseCode),
    /// The client left, or its socket failed: nothing more can be sent.
    /// The reason is a `herald_gateway_disconnects_total` label.
    Gone(&'static str),
}

impl End {
    /// The `herald_gateway_disconnects_total{reason}` label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Close(code) => code.name(),
            Self::Gone(reason) => reason,
        }
    }

    /// Whether the client went away on its own (a close, a reset, a
    /// dropped TCP connection) rather than being sent off: Socket.IO keeps
    /// such a session for connection state recovery.
    pub fn client_left(self) -> bool {
        matches!(self, Self::Gone("client_closed"))
    }
}

impl From<Closed> for End {
    fn from(c: Closed) -> Self {
        match c {
            Closed::Code(code) => Self::Close(code),
            Closed::Gone(reason) => Self::Gone(reason),
        }
    }
}

/// Why reading a connection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the TCP connection (with or without a WebSocket
    /// close first).
    #[error("the peer closed the connection")]
    Eof,
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not acceptable WebSocket.
    #[error(transparent)]
    Ws(#[from] WsError),
}

impl From<ReadError> for End {
    fn from(e: ReadError) -> Self {
        match e {
            // A TCP reset or FIN without a close frame is a network blip or
            // a closed tab, not a protocol violation.
            ReadError::Eof => Self::Gone("client_closed"),
            ReadError::Io(e) => Self::Gone(gone_reason(&e)),
            ReadError::Ws(WsError::TooLarge { .. }) => Self::Close(CloseCode::FrameTooLarge),
            ReadError::Ws(WsError::Protocol(_) | WsError::InvalidUtf8) => {
                Self::Close(CloseCode::ProtocolViolation)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_or_a_fin_without_close_is_the_client_leaving() {
        for e in [
            ReadError::Eof,
            ReadError::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
            ReadError::Io(io::Error::from(io::ErrorKind::BrokenPipe)),
        ] {
            let end = End::from(e);
            assert_eq!(end, End::Gone("client_closed"));
            assert!(end.client_left());
        }
        let other = End::from(ReadError::Io(io::Error::other("x")));
        assert_eq!(other.reason(), "error");
        assert!(!other.client_left());
    }

    #[test]
    fn bad_websocket_maps_to_its_close_code() {
        let big = WsError::TooLarge {
            what: "frame",
            size: 10,
            limit: 1,
        };
        assert_eq!(
            End::from(ReadError::Ws(big)),
            End::Close(CloseCode::FrameTooLarge)
        );
        assert_eq!(
            End::from(ReadError::Ws(WsError::Protocol("x"))),
            End::Close(CloseCode::ProtocolViolation)
        );
        assert!(!End::Close(CloseCode::Kicked).client_left());
    }
}
