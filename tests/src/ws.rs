//! A native-protocol WebSocket client for tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use herald_protocol::native::{ClientFrame, Format, ServerFrame, decode_server, encode_client};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for one frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected client: over plain TCP by default, over any stream `S`
/// (a TLS stream: [`crate::tls`]).
pub struct Client<S = MaybeTlsStream<TcpStream>> {
    /// The socket.
    pub ws: WebSocketStream<S>,
}

/// What the next read produced.
#[derive(Debug)]
pub enum Received {
    /// A decoded server frame.
    Frame(ServerFrame),
    /// The server closed with this code.
    Closed(Option<u16>),
}

impl Client {
    /// Connects and returns the client with its `welcome` frame read.
    pub async fn connect(url: &str) -> (Self, ServerFrame) {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Self::welcomed(ws).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// The client on an open WebSocket, with its `welcome` frame read.
    pub async fn welcomed(ws: WebSocketStream<S>) -> (Self, ServerFrame) {
        let mut c = Self { ws };
        let welcome = c.next_frame().await;
        assert!(
            matches!(welcome, ServerFrame::Welcome { .. }),
            "{welcome:?}"
        );
        (c, welcome)
    }

    /// Sends a frame as JSON text.
    pub async fn send(&mut self, f: &ClientFrame) {
        let text = String::from_utf8(encode_client(f, Format::Json)).expect("utf-8");
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends raw binary.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// Reads the next frame or close, skipping pings.
    pub async fn recv(&mut self) -> Received {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .expect("a frame within the timeout");
            match msg {
                None | Some(Err(_)) => return Received::Closed(None),
                Some(Ok(Message::Text(t))) => {
                    return Received::Frame(
                        decode_server(t.as_bytes(), Format::Json).expect("server frame"),
                    );
                }
                Some(Ok(Message::Binary(b))) => {
                    return Received::Frame(
                        decode_server(&b, Format::MsgPack).expect("server frame"),
                    );
                }
                Some(Ok(Message::Close(c))) => {
                    return Received::Closed(c.map(|c| u16::from(c.code)));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads the next frame; panics on close.
    pub async fn next_frame(&mut self) -> ServerFrame {
        match self.recv().await {
            Received::Frame(f) => f,
            Received::Closed(c) => panic!("connection closed ({c:?}) while a frame was expected"),
        }
    }

    /// Reads frames until the socket closes; returns the frames and the close code.
    pub async fn until_closed(&mut self) -> (Vec<ServerFrame>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match self.recv().await {
                Received::Frame(f) => frames.push(f),
                Received::Closed(c) => return (frames, c),
            }
        }
    }

    /// Reads `n` message frames (skipping other kinds) and returns (room, offset, data).
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
