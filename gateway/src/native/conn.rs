//! A native session's frame handling, for every transport: a client frame
//! (its bytes and format, decoded from a WebSocket message or a stream
//! frame) is applied here, and replies are framed for the connection's
//! wire by [`NativeWire`]. The WebSocket driver (`native::session`) and
//! the QUIC and WebTransport driver (`quic::session`) only read, write and
//! close.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use herald_protocol::native::{
    ClientFrame, CloseCode, ErrorCode, Format, ServerFrame, decode_client, encode_server,
};
use herald_protocol::ws::Opcode;
use herald_protocol::{Position, RoomName};
use tokio::time::Sleep;

use crate::auth::{Access, Denied, gate};
use crate::hub::rooms::ConnId;
use crate::hub::subscriptions::{Emit, Subscriptions};
use crate::server::AppState;
use crate::transport::end::End;
use crate::transport::frames::{Framing, stream_frame, ws_frame};
use crate::transport::link::{Chunk, Link, Out};
use crate::transport::rate::Bucket;

/// How a native connection frames what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeWire {
    /// WebSocket: JSON in text frames, MessagePack in binary frames.
    Ws,
    /// A byte stream (QUIC, WebTransport): `herald_protocol::stream`
    /// heads of kind 1 (JSON) or 2 (MessagePack).
    Stream,
}

impl NativeWire {
    /// The link framing for `format` on this wire.
    pub fn framing(self, format: Format) -> Framing {
        match self {
            Self::Ws => Framing::WsNative(format),
            Self::Stream => Framing::StreamNative(format),
        }
    }

    /// `f` encoded in `format` and framed for this wire.
    pub fn frame(self, f: &ServerFrame, format: Format) -> Chunk {
        let bytes = encode_server(f, format);
        Chunk::plain(match self {
            Self::Ws => {
                let opcode = match format {
                    Format::Json => Opcode::Text,
                    Format::MsgPack => Opcode::Binary,
                };
                ws_frame(opcode, &bytes)
            }
            Self::Stream => stream_frame(format, &bytes),
        })
    }
}

/// The per-connection state a frame handler needs.
pub struct Conn<'a> {
    /// Shared gateway state.
    state: &'a AppState,
    /// The write side.
    link: &'a Arc<Link>,
    /// Rooms and positions.
    pub subs: Subscriptions,
    /// How frames are put on this connection's wire.
    wire: NativeWire,
    /// The client's encoding (follows the frames it sends).
    pub format: Format,
    /// Subscription output not yet written (kept for its capacity).
    emits: Vec<Emit>,
    /// The connection's hub id.
    conn_id: ConnId,
    /// What the connection may do, and until when (boxed: most of an idle
    /// connection's memory is its session future).
    pub access: Box<Access>,
    /// Set when `access`'s deadline moved (an `auth` or `refresh`).
    pub rearm: bool,
    /// The client's frame budget.
    bucket: Bucket,
    /// The client's subscribe budget.
    subscribes: Bucket,
}

impl<'a> Conn<'a> {
    /// A new session's state: no rooms yet, answering in `format` on `wire`.
    pub fn new(
        state: &'a AppState,
        link: &'a Arc<Link>,
        conn_id: ConnId,
        access: Box<Access>,
        wire: NativeWire,
        format: Format,
    ) -> Self {
        let limits = &state.config.limits;
        Self {
            state,
            link,
            subs: Subscriptions::new(
                state.hub.clone(),
                conn_id,
                link.clone(),
                limits.max_rooms_per_connection,
                state.config.snapshot_depth,
            ),
            wire,
            format,
            emits: Vec::new(),
            conn_id,
            access,
            rearm: false,
            bucket: Bucket::new(limits.frame_rate),
            subscribes: Bucket::new(limits.subscribe_rate),
        }
    }

    /// The `welcome` frame, written first on every connection.
    /// `heartbeat_ms` is the transport's liveness interval (WebSocket
    /// pings, QUIC keep-alives).
    ///
    /// # Errors
    /// [`End`] when the connection is already closing.
    pub fn welcome(&mut self, session: String, heartbeat_ms: u64) -> Result<(), End> {
        let limits = &self.state.config.limits;
        let auth_within_ms = match self.access.deadline() {
            Some((_, CloseCode::AuthTimeout)) => {
                Some(self.state.config.auth.auth_timeout().as_millis() as u64)
            }
            _ => None,
        };
        let welcome = ServerFrame::Welcome {
            session,
            node: self.state.config.node_id.clone(),
            heartbeat_ms,
            max_frame_bytes: limits.max_frame_bytes as u64,
            max_rooms: limits.max_rooms_per_connection as u64,
            auth_within_ms,
        };
        self.write_replies(&[welcome])
    }

    /// The connection's write side.
    pub fn link(&self) -> &Arc<Link> {
        self.link
    }

    /// Leaves every room and unregisters from the hub; counts the end.
    pub fn end(&mut self, end: End) {
        self.subs.leave_all();
        self.state.hub.unregister(self.conn_id);
        self.state.hub.metrics().disconnect(end.reason());
    }

    /// The `disconnect` frame for `code`, framed for this wire in the
    /// client's last format.
    pub fn goodbye(&self, code: CloseCode) -> Chunk {
        self.wire.frame(&ServerFrame::disconnect(code), self.format)
    }
    /// Handles what the hub queued.
    pub async fn on_out(&mut self, out: Out) {
        self.subs.on_out(out, &mut self.emits).await;
    }

    /// Takes one frame from the client's budget: past it, error 109 and
    /// the close 4010. Every transport calls it for every frame the client
    /// sends (WebSocket pings included).
    ///
    /// # Errors
    /// [`End::Close`] with 4010 once the budget is spent.
    pub fn take_budget(&mut self) -> Result<(), End> {
        if self.bucket.take(self.state.config.limits.frame_rate) {
            return Ok(());
        }
        let metrics = self.state.hub.metrics();
        metrics.client_error(ErrorCode::RateLimited.name());
        tracing::info!("closed for sending frames too fast");
        let error = ServerFrame::error(
            ErrorCode::RateLimited,
            "frames sent faster than this gateway allows",
            None,
        );
        self.write_replies(&[error])?;
        Err(End::Close(CloseCode::FrameFlood))
    }

    /// Decodes and applies one client frame, `bytes` in `format`: the
    /// gateway answers in the format the client last sent.
    ///
    /// # Errors
    /// [`End`] when the connection must close.
    pub async fn on_frame(&mut self, bytes: Bytes, format: Format) -> Result<(), End> {
        if format != self.format {
            self.format = format;
            self.link.set_framing(self.wire.framing(format));
        }
        let metrics = self.state.hub.metrics();
        let mut replies = Vec::new();
        match decode_client(&bytes, format) {
            Err((e, id)) => {
                metrics.client_error(e.code().name());
                replies.push(ServerFrame::error(e.code(), e.to_string(), id));
            }
            Ok(ClientFrame::Subscribe {
                room,
                since,
                leave_others,
                token,
                id,
            }) => {
                if !self
                    .subscribes
                    .take(self.state.config.limits.subscribe_rate)
                {
                    metrics.client_error(ErrorCode::RateLimited.name());
                    metrics.subscribe_rate_refusal();
                    tracing::info!("closed for subscribing too fast");
                    let error = ServerFrame::error(
                        ErrorCode::RateLimited,
                        "subscribes sent faster than this gateway allows",
                        id,
                    );
                    self.write_replies(&[error])?;
                    return Err(End::Close(CloseCode::SubscribeFlood));
                }
                let gate = &self.state.config.auth;
                if let Some(token) = token.as_deref() {
                    Box::pin(gate.settle(token)).await;
                }
                if let Err(denied) = self.access.check_subscribe(gate, &room, token.as_deref()) {
                    replies.push(self.denied(&denied, id));
                } else {
                    self.subscribe(room, since, leave_others, id, &mut replies)
                        .await;
                }
            }
            Ok(ClientFrame::Auth { token, id } | ClientFrame::Refresh { token, id }) => {
                return self.authenticate(&token, id).await;
            }
            Ok(ClientFrame::Unsubscribe { room, id }) => {
                if self.subs.unsubscribe(&room) {
                    replies.push(ServerFrame::Unsubscribed {
                        room: room.to_string(),
                        id,
                    });
                } else {
                    metrics.client_error(ErrorCode::NotSubscribed.name());
                    replies.push(ServerFrame::error(
                        ErrorCode::NotSubscribed,
                        format!("not subscribed to {room}"),
                        id,
                    ));
                }
            }
            Ok(ClientFrame::LeaveAll { id }) => {
                let rooms: Vec<_> = self.subs.rooms().cloned().collect();
                self.subs.leave_all();
                for room in rooms {
                    replies.push(ServerFrame::Unsubscribed {
                        room: room.to_string(),
                        id,
                    });
                }
            }
            Ok(ClientFrame::Publish {
                room,
                event,
                data,
                id,
            }) => {
                if let Err(denied) = self.access.check_publish(&room) {
                    replies.push(self.denied(&denied, id));
                    return self.write_replies(&replies);
                }
                let result =
                    crate::transport::publish::client_publish(self.state, &room, event, data).await;
                replies.push(match result {
                    Ok(pos) => ServerFrame::Published {
                        room: room.to_string(),
                        epoch: pos.epoch,
                        offset: pos.offset,
                        id,
                    },
                    Err(r) => {
                        metrics.client_error(r.code.name());
                        ServerFrame::error(r.code, r.message, id)
                    }
                });
            }
            Ok(ClientFrame::Ping { id }) => replies.push(ServerFrame::Pong { id }),
        }
        self.write_replies(&replies)
    }

    /// Writes pending subscription output (it answers the request), then
    /// `replies`.
    ///
    /// # Errors
    /// [`End`] when the connection is closing.
    pub fn write_replies(&mut self, replies: &[ServerFrame]) -> Result<(), End> {
        self.flush_emits()?;
        let (format, wire) = (self.format, self.wire);
        self.link
            .write(replies.iter().map(|f| wire.frame(f, format)))
            .map_err(End::from)
    }

    /// Joins `room` (its access already checked).
    async fn subscribe(
        &mut self,
        room: RoomName,
        since: Option<Position>,
        leave_others: bool,
        id: Option<u64>,
        replies: &mut Vec<ServerFrame>,
    ) {
        if leave_others {
            let others: Vec<_> = self
                .subs
                .rooms()
                .filter(|r| r.as_str() != room.as_str())
                .cloned()
                .collect();
            for other in others {
                self.subs.unsubscribe(&other);
            }
        }
        if let Err(e) = self.subs.subscribe(room, since, id, &mut self.emits).await {
            self.state.hub.metrics().client_error(e.code().name());
            replies.push(ServerFrame::error(e.code(), e.to_string(), id));
        }
    }

    /// The error frame for a refused subscribe or publish: 108 before
    /// authentication or for a refused subscription token, 105 for a room
    /// the grant does not cover.
    fn denied(&self, denied: &Denied, id: Option<u64>) -> ServerFrame {
        let metrics = self.state.hub.metrics();
        let code = match denied {
            Denied::Room(_) => ErrorCode::PermissionDenied,
            Denied::NotAuthenticated => ErrorCode::Unauthorized,
            Denied::Token(e) => {
                metrics.auth_refusal(e.code());
                ErrorCode::Unauthorized
            }
        };
        metrics.client_error(code.name());
        ServerFrame::error(code, denied.to_string(), id)
    }

    /// An `auth` or `refresh` frame. A refused first token closes the
    /// connection (4007 or 4008); a refused refresh leaves it as it was.
    /// A grant narrowed by a refresh leaves the rooms it no longer covers.
    async fn authenticate(&mut self, token: &str, id: Option<u64>) -> Result<(), End> {
        let metrics = self.state.hub.metrics();
        let first = !self.access.is_authenticated();
        Box::pin(self.state.config.auth.settle(token)).await;
        match self.access.authenticate(&self.state.config.auth, token) {
            Ok(grant) => {
                let reply = ServerFrame::Authenticated {
                    user: grant.user.clone(),
                    expires: grant.expires,
                    id,
                };
                self.state.hub.set_user(self.conn_id, grant.user.clone());
                self.rearm = true;
                let gone: Vec<RoomName> = self
                    .subs
                    .rooms()
                    .filter(|r| !self.access.may_hold(r))
                    .cloned()
                    .collect();
                let mut replies = vec![reply];
                for room in gone {
                    self.subs.unsubscribe(&room);
                    replies.push(ServerFrame::Unsubscribed {
                        room: room.to_string(),
                        id: None,
                    });
                }
                self.write_replies(&replies)
            }
            Err(e) => {
                metrics.auth_refusal(e.code());
                metrics.client_error(ErrorCode::Unauthorized.name());
                tracing::debug!(code = e.code(), first, "token refused");
                let reply = ServerFrame::error(ErrorCode::Unauthorized, e.to_string(), id);
                self.write_replies(std::slice::from_ref(&reply))?;
                if first {
                    Err(End::Close(gate::close_code(&e)))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Writes pending subscription output, then puts caught-up rooms back
    /// on the direct path.
    ///
    /// # Errors
    /// [`End`] when the connection is closing.
    pub fn flush_emits(&mut self) -> Result<(), End> {
        let (format, wire) = (self.format, self.wire);
        let chunks: Vec<Chunk> = self
            .emits
            .drain(..)
            .map(|e| emit_chunk(e, wire, format))
            .collect();
        let result = if chunks.is_empty() {
            Ok(())
        } else {
            self.link.write(chunks).map_err(End::from)
        };
        self.subs.settle();
        result
    }
}

/// One subscription output as a native frame on `wire`.
pub fn emit_chunk(e: Emit, wire: NativeWire, format: Format) -> Chunk {
    let frame = |f: &ServerFrame, format| wire.frame(f, format);
    match e {
        Emit::Message { b, live } => Chunk {
            bytes: b
                .native_for(wire.framing(format))
                .cloned()
                .unwrap_or_default(),
            binary: false,
            done: live.then_some(b),
        },
        Emit::Subscribed {
            room,
            epoch,
            offset,
            recovered,
            id,
        } => frame(
            &ServerFrame::Subscribed {
                room: room.to_string(),
                epoch: epoch.to_string(),
                offset,
                recovered,
                id,
            },
            format,
        ),
        Emit::Unsubscribed { room } => frame(
            &ServerFrame::Unsubscribed {
                room: room.to_string(),
                id: None,
            },
            format,
        ),
        Emit::Presence(event) => frame(
            &ServerFrame::Presence {
                room: event.room.clone(),
                user: event.user.clone(),
                action: event.action,
            },
            format,
        ),
    }
}

/// The timer of `access`'s deadline, if it has one.
pub fn arm(access: &Access) -> Option<(Pin<Box<Sleep>>, CloseCode)> {
    access
        .deadline()
        .map(|(at, code)| (Box::pin(tokio::time::sleep_until(at)), code))
}

/// Waits for the deadline timer, forever when there is none.
pub async fn until(timer: &mut Option<(Pin<Box<Sleep>>, CloseCode)>) -> CloseCode {
    match timer {
        Some((sleep, code)) => {
            sleep.as_mut().await;
            *code
        }
        None => std::future::pending().await,
    }
}
