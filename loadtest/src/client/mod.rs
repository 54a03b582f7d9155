//! The client side of a gateway connection, behind one enum per transport.
//!
//! Scenarios speak in [`ClientEvent`]s and call [`Connection`] methods; each
//! transport module turns them into its own frames.

pub mod native;
pub mod quic;
pub mod socketio;
pub mod sse;
pub mod sse_parse;
pub mod trust;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpSocket;

/// Which client protocol a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Herald's native protocol at `/ws`.
    Native,
    /// Socket.IO v5 over a WebSocket-only Engine.IO v4 session.
    #[value(name = "socketio")]
    SocketIo,
    /// The native protocol over WebTransport (HTTP/3) at `/wt`.
    #[value(name = "webtransport")]
    WebTransport,
    /// The native protocol over raw QUIC (ALPN `herald`).
    Quic,
    /// Server-Sent Events at `/sse` (one-way; rooms named when it opens).
    Sse,
}

impl Transport {
    /// Whether this transport runs over QUIC (and needs the certificate's hash).
    pub fn is_quic(self) -> bool {
        matches!(self, Self::WebTransport | Self::Quic)
    }
}

/// The encoding of native frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "snake_case")]
pub enum WireFormat {
    /// JSON text frames.
    #[default]
    Json,
    /// MessagePack binary frames.
    Msgpack,
}

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not a usable `ws://host:port/path`.
    #[error("bad url {0:?}: {1}")]
    BadUrl(String, String),
    /// A socket error.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket layer failed.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The attempt took too long.
    #[error("timed out")]
    Timeout,
    /// The gateway sent something the protocol does not allow here.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The QUIC handshake, the WebTransport CONNECT or the stream failed.
    #[error("quic: {0}")]
    Quic(String),
    /// The SSE request failed or was refused.
    #[error("http: {0}")]
    Http(String),
}

/// A gateway URL resolved once, up front.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The resolved address (TCP).
    pub addr: SocketAddr,
    /// `host:port` as written in the URL.
    pub authority: String,
    /// The host as written in the URL.
    pub host: String,
    /// The QUIC (UDP) address: the resolved host and the port the run's
    /// certificate-hash answer gave (see [`trust::prepare`]).
    pub quic_addr: SocketAddr,
}

impl Target {
    /// Resolves `url`: `ws://host:port/path`, or for the QUIC transports
    /// also `https://host:port/wt` and `quic://host:port`.
    ///
    /// # Errors
    /// [`ClientError::BadUrl`] when it does not parse or resolve.
    pub async fn resolve(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::BadUrl(url.to_owned(), why.to_owned());
        let (rest, default_port) = if let Some(r) = url.strip_prefix("ws://") {
            (r, 80)
        } else if let Some(r) = url.strip_prefix("https://") {
            (r, 443)
        } else if let Some(r) = url.strip_prefix("quic://") {
            (r, 443)
        } else {
            return Err(bad("want ws:// (or https:// or quic:// for QUIC)"));
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.starts_with(':') {
            return Err(bad("missing host"));
        }
        let host_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:{default_port}")
        };
        let host = host_port
            .rsplit_once(':')
            .map(|(h, _)| h.to_owned())
            .unwrap_or_default();
        let addr = tokio::net::lookup_host(host_port.as_str())
            .await
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("resolves to no address"))?;
        Ok(Self {
            url: url.to_owned(),
            addr,
            authority: host_port,
            host,
            quic_addr: addr,
        })
    }
}

/// What a connection reports to the scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Joined a room (or the room's epoch changed, when unprompted).
    Subscribed {
        /// The room.
        room: String,
        /// The room's epoch.
        epoch: String,
        /// The room's offset when the subscription started.
        offset: u64,
        /// Whether what follows continues from the requested position.
        recovered: bool,
    },
    /// A room message.
    Message {
        /// The room.
        room: String,
        /// The message's offset in the room.
        offset: u64,
        /// The payload.
        data: Value,
    },
    /// The gateway refused a request.
    Error {
        /// The error code.
        code: u16,
        /// Why.
        reason: String,
    },
    /// The gateway is closing the connection.
    Disconnect {
        /// The close code.
        code: u16,
        /// Whether the gateway invites a reconnect.
        reconnect: bool,
    },
    /// Anything else (pong, unsubscribed, ...).
    Other,
}

/// Knobs every transport shares.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions<'a> {
    /// Native frame encoding.
    pub format: WireFormat,
    /// Give up after this long.
    pub timeout: Duration,
    /// Socket.IO: how a room name maps to the `subscribe` argument
    /// (`dashboard:{arg}`), see [`socketio::room_arg`].
    pub sio_room_template: &'a str,
    /// The connection token, if the gateway needs one.
    pub token: Option<&'a str>,
    /// What the worker's connections share (QUIC endpoints, HTTP clients).
    pub ctx: &'a TransportCtx,
}

/// What all the connections of a worker share.
#[derive(Debug, Default)]
pub struct TransportCtx {
    /// QUIC endpoints and configurations (QUIC transports only).
    pub quic: Option<quic::QuicCtx>,
    /// HTTP clients for SSE.
    pub sse: sse::SseCtx,
}

impl TransportCtx {
    /// The context for `transport`, trusting `hashes` (hex) for QUIC.
    ///
    /// # Errors
    /// [`ClientError`] for a bad hash or a QUIC setup failure.
    pub fn new(transport: Transport, hashes: &[String]) -> Result<Self, ClientError> {
        let quic = if transport.is_quic() {
            let parsed = hashes
                .iter()
                .map(|h| trust::parse_hex(h).map_err(|e| ClientError::Quic(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            Some(quic::QuicCtx::new(parsed)?)
        } else {
            None
        };
        Ok(Self {
            quic,
            sse: sse::SseCtx::default(),
        })
    }
}

/// A room to join and the position held in it (`None`: join afresh).
pub type RoomStart<'a> = (&'a str, Option<(String, u64)>);

/// An open connection to a gateway.
///
/// One per client task, never in a collection, so the variants' size
/// difference costs nothing worth an extra allocation.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Connection {
    /// The native protocol.
    Native(native::NativeConnection),
    /// Socket.IO over a WebSocket-only Engine.IO session.
    SocketIo(socketio::SioConnection),
    /// The native protocol on a QUIC stream (raw or WebTransport).
    Quic(quic::QuicConnection),
    /// A Server-Sent Events stream.
    Sse(sse::SseConnection),
}

impl Connection {
    /// Opens a connection of `transport` to `target` from source address `src`,
    /// and waits until the gateway greets it. `rooms` matters to SSE only,
    /// which names its rooms (and positions) when the stream opens; the
    /// other transports join them with [`Connection::subscribe`].
    ///
    /// # Errors
    /// [`ClientError`] when the TCP connect, the handshake or the greeting fails.
    pub async fn connect(
        transport: Transport,
        target: &Target,
        src: IpAddr,
        opts: ConnectOptions<'_>,
        rooms: &[RoomStart<'_>],
    ) -> Result<Self, ClientError> {
        match transport {
            Transport::WebTransport | Transport::Quic => {
                let ctx = opts
                    .ctx
                    .quic
                    .as_ref()
                    .ok_or_else(|| ClientError::Quic("no QUIC context".into()))?;
                let flavor = if transport == Transport::Quic {
                    quic::Flavor::Raw
                } else {
                    quic::Flavor::WebTransport
                };
                let fut = quic::QuicConnection::connect(
                    ctx,
                    flavor,
                    target,
                    src,
                    opts.format,
                    opts.token,
                );
                Ok(Self::Quic(timed(opts.timeout, fut).await?))
            }
            Transport::Sse => {
                let fut = sse::SseConnection::connect(
                    &opts.ctx.sse,
                    target,
                    src,
                    rooms,
                    opts.token,
                    opts.timeout,
                );
                Ok(Self::Sse(timed(opts.timeout, fut).await?))
            }
            Transport::Native => {
                let fut = native::NativeConnection::connect(target, src, opts.format, opts.token);
                let conn = tokio::time::timeout(opts.timeout, fut)
                    .await
                    .map_err(|_| ClientError::Timeout)??;
                Ok(Self::Native(conn))
            }
            Transport::SocketIo => Ok(Self::SocketIo(socketio::connect(target, src, &opts).await?)),
        }
    }

    /// Asks to join `room`, recovering from `since` when given (native
    /// only: Socket.IO joins afresh, see [`socketio`]).
    ///
    /// # Errors
    /// [`ClientError`] when the frame cannot be sent.
    pub async fn subscribe(
        &mut self,
        room: &str,
        since: Option<(String, u64)>,
        id: u64,
    ) -> Result<(), ClientError> {
        match self {
            Self::Native(c) => c.subscribe(room, since, id).await,
            Self::SocketIo(c) => c.subscribe(room).await,
            Self::Quic(c) => c.subscribe(room, since, id).await,
            Self::Sse(c) => c.subscribe(room),
        }
    }

    /// The next event; `None` when the connection closed.
    ///
    /// # Errors
    /// [`ClientError`] on a transport failure or an undecodable frame.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        match self {
            Self::Native(c) => c.next_event().await,
            Self::SocketIo(c) => c.next_event().await,
            Self::Quic(c) => c.next_event().await,
            Self::Sse(c) => c.next_event().await,
        }
    }

    /// Closes politely (close frame), bounded by a short timeout.
    pub async fn close(self) {
        match self {
            Self::Native(c) => c.close().await,
            Self::SocketIo(c) => c.close().await,
            Self::Quic(c) => c.close().await,
            Self::Sse(c) => c.close(),
        }
    }
}

/// `fut`, or [`ClientError::Timeout`] after `d`.
async fn timed<T>(
    d: Duration,
    fut: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(d, fut)
        .await
        .map_err(|_| ClientError::Timeout)?
}

/// Opens a TCP connection to `dst` from `src` (any port).
///
/// # Errors
/// The socket error.
pub async fn tcp_connect(
    src: IpAddr,
    dst: SocketAddr,
) -> Result<tokio::net::TcpStream, ClientError> {
    let socket = match dst {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if src.is_ipv4() == dst.is_ipv4() {
        socket.bind(SocketAddr::new(src, 0))?;
    }
    let stream = socket.connect(dst).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_resolve_or_fail_clearly() {
        let t = Target::resolve("ws://127.0.0.1:8080/ws").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(matches!(
            Target::resolve("http://127.0.0.1/ws").await,
            Err(ClientError::BadUrl(..))
        ));
        assert!(matches!(
            Target::resolve("ws:///ws").await,
            Err(ClientError::BadUrl(..))
        ));
    }
}
