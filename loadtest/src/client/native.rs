//! Herald's native protocol over a WebSocket.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use herald_protocol::Position;
use herald_protocol::RoomName;
use herald_protocol::native::{ClientFrame, Format, ServerFrame, decode_server, encode_client};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{ClientError, ClientEvent, Target, WireFormat, tcp_connect};

/// The largest frame a client accepts from the gateway.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// A WebSocket configuration for many mostly idle client sockets: small
/// buffers, bounded frames.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// An open native connection.
#[derive(Debug)]
pub struct NativeConnection {
    ws: WebSocketStream<TcpStream>,
    format: Format,
    /// The session id from `welcome`.
    pub session: String,
}

impl NativeConnection {
    /// Connects, upgrades and waits for `welcome`.
    ///
    /// # Errors
    /// [`ClientError`] when any step fails or the first frame is not `welcome`.
    pub async fn connect(
        target: &Target,
        src: IpAddr,
        format: WireFormat,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let stream = tcp_connect(src, target.addr).await?;
        let url = match token {
            Some(t) => {
                let sep = if target.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}token={t}", target.url)
            }
            None => target.url.clone(),
        };
        let (ws, _resp) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config()))
                .await?;
        let format = match format {
            WireFormat::Json => Format::Json,
            WireFormat::Msgpack => Format::MsgPack,
        };
        let mut conn = Self {
            ws,
            format,
            session: String::new(),
        };
        match conn.next_frame().await? {
            Some(ServerFrame::Welcome { session, .. }) => {
                conn.session = session;
                Ok(conn)
            }
            Some(other) => Err(ClientError::Protocol(format!(
                "expected welcome, got {other:?}"
            ))),
            None => Err(ClientError::Protocol("closed before welcome".into())),
        }
    }

    /// Sends a `subscribe`.
    ///
    /// # Errors
    /// [`ClientError`] on a bad room name or a send failure.
    pub async fn subscribe(
        &mut self,
        room: &str,
        since: Option<(String, u64)>,
        id: u64,
    ) -> Result<(), ClientError> {
        let room = RoomName::new(room).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let frame = ClientFrame::Subscribe {
            room,
            since: since.map(|(epoch, offset)| Position { epoch, offset }),
            leave_others: false,
            token: None,
            id: Some(id),
        };
        let bytes = encode_client(&frame, self.format);
        let msg = match self.format {
            Format::Json => Message::text(
                String::from_utf8(bytes).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
            Format::MsgPack => Message::binary(bytes),
        };
        self.ws.send(msg).await?;
        Ok(())
    }

    async fn next_frame(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        loop {
            let Some(msg) = self.ws.next().await else {
                return Ok(None);
            };
            let frame = match msg? {
                Message::Text(t) => decode_server(t.as_bytes(), Format::Json),
                Message::Binary(b) => decode_server(&b, Format::MsgPack),
                Message::Close(_) => return Ok(None),
                // Pings are answered by tungstenite on the next read or write.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            return frame
                .map(Some)
                .map_err(|e| ClientError::Protocol(e.to_string()));
        }
    }

    /// The next event; `None` when the connection closed.
    ///
    /// # Errors
    /// [`ClientError`] on a transport failure or an undecodable frame.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        Ok(self.next_frame().await?.map(frame_event))
    }

    /// Sends a close frame and waits briefly for the gateway's.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// The event a native server frame reports (shared by every transport
/// that carries native frames: WebSocket, QUIC, SSE).
pub fn frame_event(frame: ServerFrame) -> ClientEvent {
    match frame {
        ServerFrame::Subscribed {
            room,
            epoch,
            offset,
            recovered,
            ..
        } => ClientEvent::Subscribed {
            room,
            epoch,
            offset,
            recovered,
        },
        ServerFrame::Message {
            room, data, offset, ..
        } => ClientEvent::Message { room, offset, data },
        ServerFrame::Error { code, reason, .. } => ClientEvent::Error {
            code: u16::from(code),
            reason,
        },
        ServerFrame::Disconnect {
            code, reconnect, ..
        } => ClientEvent::Disconnect {
            code: u16::from(code),
            reconnect,
        },
        _ => ClientEvent::Other,
    }
}
