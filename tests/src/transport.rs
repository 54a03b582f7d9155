//! One native client over every transport, so each behaviour of
//! `tests/e2e/transports.rs` is written once and run per transport.
//! A transport with another shape (Server-Sent Events: no client frames
//! on the same connection) adds a variant and says which behaviours apply
//! ([`Transport::sends_frames`]).

use herald_protocol::native::{ClientFrame, ServerFrame};

use crate::gateway::GatewayProc;
use crate::quic::{Flavor, QuicClient};
use crate::ws::{self, Received};

/// A transport a native client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket at `/ws`.
    WebSocket,
    /// WebTransport at `https://HOST:PORT/wt`.
    WebTransport,
    /// Raw QUIC, ALPN `herald`.
    Quic,
}

impl Transport {
    /// Every transport the suite runs on.
    pub const ALL: [Transport; 3] = [Self::WebSocket, Self::WebTransport, Self::Quic];

    /// The `transport` label of the gateway's metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "ws",
            Self::WebTransport => "webtransport",
            Self::Quic => "quic",
        }
    }

    /// Whether the client sends frames on the connection it reads (all of
    /// these do; a one-way transport would not).
    pub fn sends_frames(self) -> bool {
        true
    }

    /// Connects to `gw` and reads `welcome`.
    pub async fn connect(self, gw: &GatewayProc) -> (Client, ServerFrame) {
        match self {
            Self::WebSocket => {
                let (c, w) = ws::Client::connect(&gw.ws_url()).await;
                (Client::Ws(Box::new(c)), w)
            }
            Self::WebTransport | Self::Quic => {
                let flavor = if self == Self::Quic {
                    Flavor::Raw
                } else {
                    Flavor::WebTransport
                };
                let hash = gw.cert_hash().await;
                let (c, w) = QuicClient::connect(flavor, gw.quic_addr(), hash).await;
                (Client::Quic(Box::new(c)), w)
            }
        }
    }
}

/// A connected native client on some transport.
pub enum Client {
    /// Over WebSocket.
    Ws(Box<ws::Client>),
    /// Over QUIC or WebTransport.
    Quic(Box<QuicClient>),
}

impl Client {
    /// Sends a frame as JSON.
    pub async fn send(&mut self, f: &ClientFrame) {
        match self {
            Self::Ws(c) => c.send(f).await,
            Self::Quic(c) => c.send(f).await,
        }
    }

    /// Sends a JSON text frame as is (bad input included).
    pub async fn send_text(&mut self, text: &str) {
        match self {
            Self::Ws(c) => c.send_text(text).await,
            Self::Quic(c) => {
                c.send_frame(herald_protocol::stream::Kind::Json, text.as_bytes())
                    .await
            }
        }
    }

    /// Reads the next frame or the close.
    pub async fn recv(&mut self) -> Received {
        match self {
            Self::Ws(c) => c.recv().await,
            Self::Quic(c) => c.recv().await,
        }
    }

    /// Reads the next frame; panics on close.
    pub async fn next_frame(&mut self) -> ServerFrame {
        match self.recv().await {
            Received::Frame(f) => f,
            Received::Closed(c) => panic!("closed ({c:?}) while a frame was expected"),
        }
    }

    /// Reads frames until the connection closes: the frames and the code.
    pub async fn until_closed(&mut self) -> (Vec<ServerFrame>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match self.recv().await {
                Received::Frame(f) => frames.push(f),
                Received::Closed(c) => return (frames, c),
            }
        }
    }

    /// Reads `n` message frames (skipping others): (room, offset, data).
    pub async fn messages(&mut self, n: usize) -> Vec<(String, u64, serde_json::Value)> {
        let mut out = Vec::new();
        while out.len() < n {
            if let ServerFrame::Message {
                room, offset, data, ..
            } = self.next_frame().await
            {
                out.push((room, offset, data));
            }
        }
        out
    }
}
