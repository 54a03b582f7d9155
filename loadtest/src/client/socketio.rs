//! Socket.IO client mode: Socket.IO v5 over a WebSocket-only Engine.IO v4
//! session, like a browser's `io(url, { transports: ['websocket'] })`.
//!
//! The session: WebSocket upgrade at `/socket.io/?EIO=4&transport=websocket`,
//! the server's `0{open}`, our `40` (CONNECT to `/`), its `40{"sid"}`. The
//! server sends Engine.IO pings (`2`), answered with `3` while reading.
//!
//! Joining a room is what the dashboard does: `42["subscribe","<arg>"]`,
//! where `<arg>` comes from the room name through a template (default
//! `dashboard:{arg}`: room `dashboard:sales` is argument `sales`). There is
//! no reply, so the connection reports a local `Subscribed` at once.
//!
//! Broadcasts arrive as `42["<event>",data]` or, with connection state
//! recovery, `42["<event>",data,"<offset>"]`; the trailing offset is ignored.
//! Events name no room, so a connection is in one room at most (the
//! `subscribe` event leaves the others). The payload's publisher sequence
//! number stands in for the room offset the native protocol carries, and a
//! payload stamped before the subscribe was sent is the room's current state
//! (reported with offset 0, which the checker counts as snapshot).
//! Connection state recovery is not used: a reconnect starts a fresh stream.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use herald_protocol::sio::{
    BinaryAssembler, DEFAULT_NSP, EioPacket, MAX_ATTACHMENTS, SioKind, SioPacket, decode_eio_text,
    encode_eio_text, encode_frame,
};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::native::ws_config;
use super::{ClientError, ClientEvent, ConnectOptions, Target, tcp_connect};
use crate::worker::unix_nanos;

/// The placeholder a room template must contain once.
pub const ARG_PLACEHOLDER: &str = "{arg}";
/// The epoch reported for Socket.IO streams (they have none).
pub const SIO_EPOCH: &str = "socketio";

/// The Engine.IO WebSocket URL for a gateway URL: the path becomes
/// `/socket.io/` when it is empty, `/` or `/ws`, and `EIO=4&transport=websocket`
/// is added unless the query already names `EIO`.
pub fn engineio_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme_host, path) = match base.find("://") {
        Some(i) => match base[i + 3..].find('/') {
            Some(j) => base.split_at(i + 3 + j),
            None => (base, ""),
        },
        None => (base, ""),
    };
    let path = match path {
        "" | "/" | "/ws" => "/socket.io/",
        p => p,
    };
    match query {
        Some(q) if q.split('&').any(|kv| kv.starts_with("EIO=")) => {
            format!("{scheme_host}{path}?{q}")
        }
        Some(q) if !q.is_empty() => {
            format!("{scheme_host}{path}?{q}&EIO=4&transport=websocket")
        }
        _ => format!("{scheme_host}{path}?EIO=4&transport=websocket"),
    }
}

/// Checks that `template` contains [`ARG_PLACEHOLDER`] exactly once.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_template(template: &str) -> Result<(), String> {
    match template.matches(ARG_PLACEHOLDER).count() {
        1 => Ok(()),
        n => Err(format!(
            "--sio-room-template {template:?} must contain {ARG_PLACEHOLDER} exactly once (found {n})"
        )),
    }
}

/// The `subscribe` argument that joins `room` under `template`
/// (`dashboard:{arg}` and `dashboard:sales` give `sales`).
///
/// # Errors
/// [`ClientError::Protocol`] when the room does not fit the template or the
/// argument would be empty.
pub fn room_arg(template: &str, room: &str) -> Result<String, ClientError> {
    check_template(template).map_err(ClientError::Protocol)?;
    let (prefix, suffix) = template
        .split_once(ARG_PLACEHOLDER)
        .ok_or_else(|| ClientError::Protocol("template without {arg}".into()))?;
    room.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .filter(|arg| !arg.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ClientError::Protocol(format!(
                "room {room:?} does not fit the Socket.IO room template {template:?}"
            ))
        })
}

/// An open Socket.IO connection.
#[derive(Debug)]
pub struct SioConnection {
    ws: WebSocketStream<TcpStream>,
    /// The Engine.IO session id.
    pub sid: String,
    /// Maps room names to `subscribe` arguments.
    template: String,
    /// The room joined last (events carry no room name).
    room: Option<String>,
    /// Unix nanoseconds when the last `subscribe` was sent.
    subscribed_at_ns: u64,
    /// Live events seen, the offset for payloads without a sequence number.
    live: u64,
    /// Locally made events, handed out before reading the socket (at most
    /// one per `subscribe` call, and one call per room).
    local: VecDeque<ClientEvent>,
    /// Joins binary packets with their attachments.
    assembler: BinaryAssembler,
}

/// What one read from the socket produced.
enum Read {
    Packet(SioPacket),
    Closed,
}

impl SioConnection {
    /// Connects, opens the Engine.IO session and joins the main namespace.
    ///
    /// # Errors
    /// [`ClientError`] when a step fails or the server refuses the namespace.
    pub async fn connect(
        target: &Target,
        src: IpAddr,
        template: &str,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        check_template(template).map_err(ClientError::Protocol)?;
        let stream = tcp_connect(src, target.addr).await?;
        let url = engineio_url(&target.url);
        let (ws, _resp) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config()))
                .await?;
        let mut conn = Self {
            ws,
            sid: String::new(),
            template: template.to_owned(),
            room: None,
            subscribed_at_ns: 0,
            live: 0,
            local: VecDeque::new(),
            assembler: BinaryAssembler::new(MAX_ATTACHMENTS),
        };
        match conn.ws.next().await {
            Some(Ok(Message::Text(t))) => match decode_eio_text(t.as_str()) {
                Ok(EioPacket::Open(info)) => conn.sid = info.sid,
                Ok(other) => {
                    return Err(ClientError::Protocol(format!(
                        "expected the Engine.IO open packet, got {other:?}"
                    )));
                }
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            },
            Some(Ok(other)) => {
                return Err(ClientError::Protocol(format!(
                    "expected the Engine.IO open packet, got {other:?}"
                )));
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ClientError::Protocol("closed before open".into())),
        }
        let auth = token.map(|t| {
            let mut m = serde_json::Map::new();
            m.insert("token".into(), serde_json::Value::String(t.to_owned()));
            m
        });
        conn.send_packet(&SioPacket::connect(DEFAULT_NSP, auth))
            .await?;
        loop {
            match conn.read_packet().await? {
                Read::Closed => {
                    return Err(ClientError::Protocol("closed before CONNECT".into()));
                }
                Read::Packet(p) if p.kind == SioKind::Connect => return Ok(conn),
                Read::Packet(p) if p.kind == SioKind::ConnectError => {
                    return Err(ClientError::Protocol(format!(
                        "namespace refused: {}",
                        p.data.map(|d| d.to_string()).unwrap_or_default()
                    )));
                }
                // Nothing else is expected before CONNECT; skip it.
                Read::Packet(_) => {}
            }
        }
    }

    async fn send_packet(&mut self, p: &SioPacket) -> Result<(), ClientError> {
        let (text, _attachments) = encode_frame(p);
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Reads until a complete Socket.IO packet arrives, answering pings.
    async fn read_packet(&mut self) -> Result<Read, ClientError> {
        loop {
            let Some(msg) = self.ws.next().await else {
                return Ok(Read::Closed);
            };
            let done = match msg? {
                Message::Text(t) => match decode_eio_text(t.as_str()) {
                    Ok(EioPacket::Ping(data)) => {
                        let pong = encode_eio_text(&EioPacket::Pong(data)).unwrap_or_default();
                        self.ws.send(Message::text(pong)).await?;
                        None
                    }
                    Ok(EioPacket::Close) => return Ok(Read::Closed),
                    Ok(EioPacket::Message(herald_protocol::sio::EioData::Text(s))) => self
                        .assembler
                        .handle_text(&s)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?,
                    Ok(_) => None,
                    Err(e) => return Err(ClientError::Protocol(e.to_string())),
                },
                Message::Binary(b) => self
                    .assembler
                    .handle_binary(b)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?,
                Message::Close(_) => return Ok(Read::Closed),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
            };
            if let Some(p) = done {
                return Ok(Read::Packet(p));
            }
        }
    }

    /// Emits `subscribe` with the room's argument and reports `Subscribed`.
    ///
    /// # Errors
    /// [`ClientError`] when the room does not fit the template or the send fails.
    pub async fn subscribe(&mut self, room: &str) -> Result<(), ClientError> {
        let arg = room_arg(&self.template, room)?;
        self.subscribed_at_ns = unix_nanos();
        self.send_packet(&SioPacket::event(
            DEFAULT_NSP,
            "subscribe",
            [Value::String(arg)],
        ))
        .await?;
        self.room = Some(room.to_owned());
        self.live = 0;
        self.local.clear();
        self.local.push_back(ClientEvent::Subscribed {
            room: room.to_owned(),
            epoch: SIO_EPOCH.to_owned(),
            offset: 0,
            recovered: false,
        });
        Ok(())
    }

    /// The next event; `None` when the connection closed.
    ///
    /// # Errors
    /// [`ClientError`] on a transport failure or an undecodable packet.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        if let Some(ev) = self.local.pop_front() {
            return Ok(Some(ev));
        }
        let p = match self.read_packet().await? {
            Read::Closed => return Ok(None),
            Read::Packet(p) => p,
        };
        Ok(Some(match p.kind.base() {
            SioKind::Event => self.on_event(&p),
            SioKind::Disconnect => ClientEvent::Disconnect {
                code: 1000,
                reconnect: true,
            },
            SioKind::ConnectError => ClientEvent::Error {
                code: 0,
                reason: p.data.map(|d| d.to_string()).unwrap_or_default(),
            },
            _ => ClientEvent::Other,
        }))
    }

    fn on_event(&mut self, p: &SioPacket) -> ClientEvent {
        let Some(room) = self.room.clone() else {
            return ClientEvent::Other;
        };
        // The first argument is the payload; a trailing offset string
        // (connection state recovery) is ignored.
        let Some(data) = p.args().first().cloned() else {
            return ClientEvent::Other;
        };
        let ts = data.get("ts_ns").and_then(Value::as_u64);
        if ts.is_some_and(|ts| ts < self.subscribed_at_ns) {
            // Published before we asked: the room's current state.
            return ClientEvent::Message {
                room,
                offset: 0,
                data,
            };
        }
        self.live += 1;
        let offset = data.get("seq").and_then(Value::as_u64).unwrap_or(self.live);
        ClientEvent::Message { room, offset, data }
    }

    /// Sends an Engine.IO close and a WebSocket close, bounded by a short timeout.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let close = encode_eio_text(&EioPacket::Close).unwrap_or_default();
            let _ = self.ws.send(Message::text(close)).await;
            let _ = self.ws.close(None).await;
        })
        .await;
    }
}

/// Opens a Socket.IO connection, bounded by `opts.timeout`.
///
/// # Errors
/// [`ClientError`] when the connect fails or times out.
pub async fn connect(
    target: &Target,
    src: IpAddr,
    opts: &ConnectOptions<'_>,
) -> Result<SioConnection, ClientError> {
    tokio::time::timeout(
        opts.timeout,
        SioConnection::connect(target, src, opts.sio_room_template, opts.token),
    )
    .await
    .map_err(|_| ClientError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_point_at_the_engineio_websocket_endpoint() {
        assert_eq!(
            engineio_url("ws://127.0.0.1:8080/ws"),
            "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            engineio_url("ws://h:1"),
            "ws://h:1/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            engineio_url("ws://h:1/custom/?x=1"),
            "ws://h:1/custom/?x=1&EIO=4&transport=websocket"
        );
        assert_eq!(
            engineio_url("ws://h:1/socket.io/?EIO=4&transport=websocket"),
            "ws://h:1/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn rooms_map_to_subscribe_arguments_through_the_template() {
        assert_eq!(
            room_arg("dashboard:{arg}", "dashboard:sales").unwrap(),
            "sales"
        );
        assert_eq!(room_arg("{arg}", "loadtest:r3").unwrap(), "loadtest:r3");
        assert_eq!(room_arg("a:{arg}:b", "a:x:b").unwrap(), "x");
        assert!(room_arg("dashboard:{arg}", "loadtest:r1").is_err());
        assert!(room_arg("dashboard:{arg}", "dashboard:").is_err());
        assert!(room_arg("dashboard:", "dashboard:x").is_err());
        assert!(check_template("{arg}{arg}").is_err());
    }
}
