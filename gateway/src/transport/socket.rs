//! The socket a WebSocket transport reads and writes: a client's TCP
//! stream, or, for a TLS connection, the local end of the pair its
//! plaintext is relayed through (`crate::tls::relay`).
//!
//! Both kinds are driven the same way: readiness (`readable`,
//! `writable`) and non-blocking `try_*` calls, so the fan-out can write a
//! delivery straight to the socket from any thread.

use std::io::{self, IoSlice};
use std::net::SocketAddr;

use tokio::net::{TcpStream, UnixStream};

use super::link::Wire;

/// A connection's byte stream, plain or relayed from TLS.
#[derive(Debug)]
pub enum Socket {
    /// A plain TCP connection from the client.
    Tcp(TcpStream),
    /// The plaintext side of a TLS connection: a local stream whose other
    /// end is relayed to and from the client's TLS stream.
    Relayed {
        /// The local end the transport uses.
        stream: UnixStream,
        /// The client's TCP address (the relay's own has none).
        peer: SocketAddr,
    },
}

impl Socket {
    /// Waits until the socket may be readable.
    ///
    /// # Errors
    /// As [`TcpStream::readable`].
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.readable().await,
            Self::Relayed { stream, .. } => stream.readable().await,
        }
    }

    /// Waits until the socket may be writable.
    ///
    /// # Errors
    /// As [`TcpStream::writable`].
    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.writable().await,
            Self::Relayed { stream, .. } => stream.writable().await,
        }
    }

    /// Reads what is there now, without waiting.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is there; any other error ends the connection.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_read(buf),
            Self::Relayed { stream, .. } => stream.try_read(buf),
        }
    }

    /// Writes what the socket takes now, without waiting.
    ///
    /// # Errors
    /// `WouldBlock` when it takes nothing; any other error ends the connection.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_write(buf),
            Self::Relayed { stream, .. } => stream.try_write(buf),
        }
    }

    /// Half-closes the socket (FIN to a TCP client; for a relayed one the
    /// relay sends TLS `close_notify` and FIN).
    ///
    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write),
            Self::Relayed { stream, .. } => {
                socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write)
            }
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(s) => s.peer_addr().ok(),
            Self::Relayed { peer, .. } => Some(*peer),
        }
    }
}

impl Wire for Socket {
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_write_vectored(bufs),
            Self::Relayed { stream, .. } => stream.try_write_vectored(bufs),
        }
    }
}
