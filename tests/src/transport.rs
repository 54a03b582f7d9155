//! One native client over every transport, so each behaviour of
//! `tests/e2e/transports.rs` is written once and run per transport.
//! A transport with another shape (Server-Sent Events: no client frames
//! on the same connection) adds a variant and says which behaviours apply
//! ([`Transport::sends_frames`]).

use std::time::Duration;

use herald_protocol::native::{ClientFrame, Format, ServerFrame, decode_server};
use herald_protocol::sse::id::{Entry, encode_id, epoch_check};

use crate::gateway::GatewayProc;
use crate::quic::{Flavor, QuicClient};
use crate::sse::SseClient;
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
    /// Server-Sent Events at `/sse`: one-way, so a `subscribe` opens the
    /// stream (`?room=`, with `since` as the stream's position id).
    Sse,
}

impl Transport {
    /// Every transport the suite runs on.
    pub const ALL: [Transport; 4] = [Self::WebSocket, Self::WebTransport, Self::Quic, Self::Sse];

    /// The `transport` label of the gateway's metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "ws",
            Self::WebTransport => "webtransport",
            Self::Quic => "quic",
            Self::Sse => "sse",
        }
    }

    /// Whether the client sends frames on the connection it reads (SSE
    /// does not: its requests are the stream's URL).
    pub fn sends_frames(self) -> bool {
        self != Self::Sse
    }

    /// Connects to `gw` and reads `welcome` (SSE has none; its stream
    /// opens at the first `subscribe`).
    pub async fn connect(self, gw: &GatewayProc) -> (Client, Option<ServerFrame>) {
        match self {
            Self::WebSocket => {
                let (c, w) = ws::Client::connect(&gw.ws_url()).await;
                (Client::Ws(Box::new(c)), Some(w))
            }
            Self::Sse => (
                Client::Sse(Box::new(SseStream {
                    base: format!("http://{}/sse", gw.client),
                    stream: None,
                    last_code: None,
                })),
                None,
            ),
            Self::WebTransport | Self::Quic => {
                let flavor = if self == Self::Quic {
                    Flavor::Raw
                } else {
                    Flavor::WebTransport
                };
                let hash = gw.cert_hash().await;
                let (c, w) = QuicClient::connect(flavor, gw.quic_addr(), hash).await;
                (Client::Quic(Box::new(c)), Some(w))
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
    /// Over Server-Sent Events.
    Sse(Box<SseStream>),
}

/// A Server-Sent Events stream seen as a native client: each event's data
/// is a native server frame.
pub struct SseStream {
    /// `http://HOST:PORT/sse`.
    base: String,
    /// The open stream, after the first `subscribe`.
    stream: Option<SseClient>,
    /// The code of the last `disconnect` event read.
    last_code: Option<u16>,
}

impl SseStream {
    /// Opens the stream for `room`, from `since` when given.
    async fn subscribe(&mut self, room: &str, since: Option<&herald_protocol::Position>) {
        let mut url = format!("{}?room={room}", self.base);
        if let Some(p) = since {
            let mut id = Vec::new();
            encode_id(
                [Some(Entry {
                    offset: p.offset,
                    check: epoch_check(room, &p.epoch),
                })],
                &mut id,
            );
            url.push_str("&since=");
            url.push_str(std::str::from_utf8(&id).expect("ids are ASCII"));
        }
        match SseClient::open(&url, &[]).await {
            Ok(s) => self.stream = Some(s),
            Err(r) => {
                // A refused stream reads as a connection closed with the
                // body's code (4004 for the connection limit).
                self.last_code = r.body["code"].as_u64().and_then(|c| u16::try_from(c).ok());
                self.stream = None;
            }
        }
    }

    /// The next event as a native frame, or the end of the stream.
    async fn recv(&mut self) -> Received {
        let Some(stream) = self.stream.as_mut() else {
            return Received::Closed(self.last_code);
        };
        match stream.next_event(Duration::from_secs(10)).await {
            Some(e) => {
                let frame = decode_server(e.data.as_bytes(), Format::Json).unwrap_or_else(|err| {
                    panic!("event data is not a native frame ({err}): {e:?}")
                });
                if let ServerFrame::Disconnect { code, .. } = &frame {
                    self.last_code = Some(u16::from(*code));
                }
                Received::Frame(frame)
            }
            None => {
                assert!(stream.ended, "no SSE event within 10 s");
                Received::Closed(self.last_code)
            }
        }
    }
}

impl Client {
    /// Sends a frame as JSON.
    pub async fn send(&mut self, f: &ClientFrame) {
        match self {
            Self::Ws(c) => c.send(f).await,
            Self::Quic(c) => c.send(f).await,
            Self::Sse(c) => match f {
                ClientFrame::Subscribe { room, since, .. } => {
                    c.subscribe(room.as_str(), since.as_ref()).await;
                }
                other => panic!("an SSE client sends no {other:?}"),
            },
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
            Self::Sse(_) => panic!("an SSE client sends no frames"),
        }
    }

    /// Reads the next frame or the close.
    pub async fn recv(&mut self) -> Received {
        match self {
            Self::Ws(c) => c.recv().await,
            Self::Quic(c) => c.recv().await,
            Self::Sse(c) => c.recv().await,
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
