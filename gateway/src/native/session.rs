//! One native WebSocket connection: where a client frame is decoded and
//! applied. Everything shared with the other transports (the write path,
//! ordering, close reasons, publish) is the transport core's.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use crate::transport::socket::Socket;
use bytes::Bytes;
use herald_protocol::native::{
    ClientFrame, CloseCode, ErrorCode, Format, ServerFrame, decode_client, encode_server,
};
use herald_protocol::ws::{Limits, Opcode, WsMessage};
use herald_protocol::{Position, RoomName};
use tokio::time::{Instant, Sleep};

use crate::auth::{Access, AuthError, Denied, gate};
use crate::hub::rooms::ConnId;
use crate::hub::subscriptions::{Emit, Subscriptions};
use crate::server::AppState;
use crate::server::admission::ConnPermit;
use crate::transport::end::End;
use crate::transport::frames::{Framing, ws_frame};
use crate::transport::link::{Chunk, Link, Out, Wire};
use crate::transport::rate::Bucket;
use crate::transport::{accounting, span, ws};

/// A native frame in a WebSocket frame of its format.
fn frame(f: &ServerFrame, format: Format) -> Chunk {
    let bytes = encode_server(f, format);
    let opcode = match format {
        Format::Json => Opcode::Text,
        Format::MsgPack => Opcode::Binary,
    };
    Chunk::plain(ws_frame(opcode, &bytes))
}

/// The WebSocket limits for client frames.
pub fn ws_limits(state: &AppState) -> Limits {
    let max = state.config.limits.max_frame_bytes as u64;
    Limits {
        max_frame: max,
        max_message: max,
    }
}

/// Refuses a connection the gateway has no room for: the `disconnect`
/// notice and a close frame with `code`.
pub async fn refuse(sock: Socket, state: Arc<AppState>, code: CloseCode, format: Format) {
    refuse_with(sock, state, code, format, None).await;
}

/// Refuses a connection whose handshake token was refused: error 108
/// naming why, then the close (4007 when a fresh token would pass, 4008
/// otherwise).
pub async fn refuse_token(sock: Socket, state: Arc<AppState>, e: &AuthError, format: Format) {
    state.hub.metrics().auth_refusal(e.code());
    state
        .hub
        .metrics()
        .client_error(ErrorCode::Unauthorized.name());
    tracing::debug!(code = e.code(), "token refused");
    let error = ServerFrame::error(ErrorCode::Unauthorized, e.to_string(), None);
    refuse_with(sock, state, gate::close_code(e), format, Some(error)).await;
}

/// Refuses a connection the application backend refused (error 108 with
/// its message, then 4008) or could not answer (110 or 111, then 4011).
pub async fn refuse_backend(
    sock: Socket,
    state: Arc<AppState>,
    error: ErrorCode,
    message: String,
    format: Format,
) {
    state.hub.metrics().client_error(error.name());
    let close = if error == ErrorCode::Unauthorized {
        CloseCode::TokenInvalid
    } else {
        CloseCode::BackendFailed
    };
    let frame = ServerFrame::error(error, message, None);
    refuse_with(sock, state, close, format, Some(frame)).await;
}

async fn refuse_with(
    sock: Socket,
    state: Arc<AppState>,
    code: CloseCode,
    format: Format,
    first: Option<ServerFrame>,
) {
    let sock = Arc::new(sock);
    let link = Link::new(
        Arc::from(""),
        Framing::WsNative(format),
        Some(sock.clone() as Arc<dyn Wire>),
        state.link_limits(),
        state.hub.metrics().clone(),
    );
    link.close(code);
    let frames = first
        .iter()
        .chain([&ServerFrame::disconnect(code)])
        .map(|f| frame(f, format))
        .collect();
    ws::close_with(&link, &sock, code, frames).await;
}

/// The per-connection state a frame handler needs.
struct Conn<'a> {
    /// Shared gateway state.
    state: &'a AppState,
    /// The write side.
    link: &'a Arc<Link>,
    /// Rooms and positions.
    subs: Subscriptions,
    /// The client's encoding (follows the frames it sends).
    format: Format,
    /// Subscription output not yet written (kept for its capacity).
    emits: Vec<Emit>,
    /// The connection's hub id.
    conn_id: ConnId,
    /// What the connection may do, and until when (boxed: most of an idle
    /// connection's memory is its session future).
    access: Box<Access>,
    /// Set when `access`'s deadline moved (an `auth` or `refresh`).
    rearm: bool,
    /// The client's frame budget.
    bucket: Bucket,
    /// The client's subscribe budget.
    subscribes: Bucket,
}

/// What the upgrade hands a new session.
pub struct Start {
    /// The encoding the URL asked for.
    pub format: Format,
    /// The session id.
    pub session: String,
    /// The standing its handshake token (or none) gave it.
    pub access: Box<Access>,
    /// Its connection slot, released when the session ends.
    pub _permit: ConnPermit,
}

/// The timer of `access`'s deadline, if it has one.
fn arm(access: &Access) -> Option<(Pin<Box<Sleep>>, CloseCode)> {
    access
        .deadline()
        .map(|(at, code)| (Box::pin(tokio::time::sleep_until(at)), code))
}

/// Waits for the deadline timer, forever when there is none.
async fn until(timer: &mut Option<(Pin<Box<Sleep>>, CloseCode)>) -> CloseCode {
    match timer {
        Some((sleep, code)) => {
            sleep.as_mut().await;
            *code
        }
        None => std::future::pending().await,
    }
}

/// Runs a session until either side closes it. `leftover` is what the
/// HTTP layer read past the upgrade request.
pub async fn run(sock: Socket, leftover: Vec<u8>, state: Arc<AppState>, start: Start) {
    let Start {
        format,
        session,
        access,
        _permit,
    } = start;
    if let Some(peer) = sock.peer_addr() {
        span::record_peer(peer);
    }
    let sock = Arc::new(sock);
    let hub = state.hub.clone();
    let limits = &state.config.limits;
    let link = Link::new(
        Arc::from(session.as_str()),
        Framing::WsNative(format),
        Some(sock.clone() as Arc<dyn Wire>),
        state.link_limits(),
        hub.metrics().clone(),
    );
    let conn_id = hub.register(access.user().map(str::to_owned), link.clone());
    let auth_within_ms = match access.deadline() {
        Some((_, CloseCode::AuthTimeout)) => {
            Some(state.config.auth.auth_timeout().as_millis() as u64)
        }
        _ => None,
    };
    let mut timer = arm(&access);
    let mut conn = Conn {
        state: &state,
        link: &link,
        subs: Subscriptions::new(
            hub.clone(),
            conn_id,
            link.clone(),
            limits.max_rooms_per_connection,
            state.config.snapshot_depth,
        ),
        format,
        emits: Vec::new(),
        conn_id,
        access,
        rearm: false,
        bucket: Bucket::new(limits.frame_rate),
        subscribes: Bucket::new(limits.subscribe_rate),
    };
    tracing::debug!("connected");
    let welcome = ServerFrame::Welcome {
        session,
        node: state.config.node_id.clone(),
        heartbeat_ms: state.config.heartbeat_interval.as_millis() as u64,
        max_frame_bytes: limits.max_frame_bytes as u64,
        max_rooms: limits.max_rooms_per_connection as u64,
        auth_within_ms,
    };
    let _ = link.write([frame(&welcome, format)]);

    let mut reader = ws::WsReader::new(ws_limits(&state), leftover);
    let interval = state.config.heartbeat_interval;
    let dead_after = interval + state.config.heartbeat_timeout;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + interval, interval);
    let mut last_seen = Instant::now();
    let mut inbox = VecDeque::new();
    let mut written = Vec::new();
    // Registered once: every connection waits on the same token, and
    // re-registering each turn would take its lock once per delivery.
    let stopping = state.shutdown.cancelled();
    tokio::pin!(stopping);

    let end: End = loop {
        let queued = link.has_queued();
        let end = tokio::select! {
            biased;
            () = &mut stopping => Some(End::Close(CloseCode::Shutdown)),
            () = link.notified() => {
                match link.take_inbox(&mut inbox) {
                    Some(closed) => Some(End::from(closed)),
                    None => {
                        while let Some(out) = inbox.pop_front() {
                            Box::pin(conn.on_out(out)).await;
                        }
                        conn.flush_emits().err()
                    }
                }
            }
            open = ws::flush(&link, &sock), if queued => {
                (!open).then(|| link.closed().map_or(End::Gone("error"), End::from))
            }
            msg = reader.next(&sock) => {
                last_seen = Instant::now();
                match msg {
                    Ok(m) => Box::pin(conn.on_message(m)).await.err(),
                    Err(e) => Some(End::from(e)),
                }
            }
            code = until(&mut timer) => {
                tracing::debug!(code = code.name(), "auth deadline");
                Some(End::Close(code))
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > dead_after {
                    Some(End::Close(CloseCode::HeartbeatTimeout))
                } else {
                    link.write([ws::control(Opcode::Ping, b"")]).err().map(End::from)
                }
            }
        };
        link.take_written(&mut written);
        accounting::written(hub.metrics(), &written);
        written.clear();
        if let Some(end) = end {
            break end;
        }
        if std::mem::take(&mut conn.rearm) {
            timer = arm(&conn.access);
        }
    };

    conn.subs.leave_all();
    hub.unregister(conn_id);
    hub.metrics().disconnect(end.reason());
    match end {
        End::Close(code) => {
            if code == CloseCode::SlowConsumer {
                tracing::info!("disconnected as a slow consumer");
            } else {
                tracing::debug!(code = code.name(), "closing");
            }
            link.close(code);
            let goodbye = vec![frame(&ServerFrame::disconnect(code), conn.format)];
            Box::pin(ws::close_with(&link, &sock, code, goodbye)).await;
        }
        End::Gone(reason) => tracing::debug!(reason, "gone"),
    }
    link.take_written(&mut written);
    accounting::written(hub.metrics(), &written);
}

impl Conn<'_> {
    /// Handles what the hub queued.
    async fn on_out(&mut self, out: Out) {
        self.subs.on_out(out, &mut self.emits).await;
    }

    /// Handles one client message.
    async fn on_message(&mut self, m: WsMessage) -> Result<(), End> {
        if !self.bucket.take(self.state.config.limits.frame_rate) {
            let metrics = self.state.hub.metrics();
            metrics.client_error(ErrorCode::RateLimited.name());
            tracing::info!("closed for sending frames too fast");
            let error = ServerFrame::error(
                ErrorCode::RateLimited,
                "frames sent faster than this gateway allows",
                None,
            );
            self.write_replies(&[error])?;
            return Err(End::Close(CloseCode::FrameFlood));
        }
        match m {
            WsMessage::Text(bytes) => self.on_frame(bytes, Format::Json).await,
            WsMessage::Binary(bytes) => self.on_frame(bytes, Format::MsgPack).await,
            WsMessage::Ping(payload) => {
                ws::pong(self.link, &payload);
                Ok(())
            }
            WsMessage::Pong(_) => Ok(()),
            WsMessage::Close(_) => Err(End::Gone("client_closed")),
        }
    }

    /// Decodes and applies one client frame.
    async fn on_frame(&mut self, bytes: Bytes, format: Format) -> Result<(), End> {
        if format != self.format {
            self.format = format;
            self.link.set_framing(Framing::WsNative(format));
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
    fn write_replies(&mut self, replies: &[ServerFrame]) -> Result<(), End> {
        self.flush_emits()?;
        let format = self.format;
        self.link
            .write(replies.iter().map(|f| frame(f, format)))
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
    fn flush_emits(&mut self) -> Result<(), End> {
        let format = self.format;
        let chunks: Vec<Chunk> = self
            .emits
            .drain(..)
            .map(|e| emit_chunk(e, format))
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

/// One subscription output as a native WebSocket frame.
pub fn emit_chunk(e: Emit, format: Format) -> Chunk {
    match e {
        Emit::Message { b, live } => Chunk {
            bytes: b.ws_native(format).clone(),
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
