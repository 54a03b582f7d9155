//! One native WebSocket connection: the thin driver that reads WebSocket
//! messages, hands native frames to [`Conn`] (`native::conn`, shared with
//! QUIC and WebTransport), and runs the WebSocket close sequence.
//! Everything shared with the other transports (the write path, ordering,
//! close reasons, publish) is the transport core's.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::transport::socket::Socket;
use herald_protocol::native::{CloseCode, ErrorCode, Format, ServerFrame};
use herald_protocol::ws::{Limits, Opcode, WsMessage};
use tokio::time::Instant;

use super::conn::{Conn, NativeWire, arm, until};
use crate::auth::{Access, AuthError, gate};
use crate::server::AppState;
use crate::server::admission::ConnPermit;
use crate::transport::end::End;
use crate::transport::frames::Framing;
use crate::transport::link::{Chunk, Link, Wire};
use crate::transport::{accounting, span, ws};

/// A native frame in a WebSocket frame of its format.
fn frame(f: &ServerFrame, format: Format) -> Chunk {
    NativeWire::Ws.frame(f, format)
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
    let link = Link::new(
        Arc::from(session.as_str()),
        Framing::WsNative(format),
        Some(sock.clone() as Arc<dyn Wire>),
        state.link_limits(),
        hub.metrics().clone(),
    );
    let conn_id = hub.register(access.user().map(str::to_owned), link.clone());
    let mut timer = arm(&access);
    let mut conn = Conn::new(&state, &link, conn_id, access, NativeWire::Ws, format);
    tracing::debug!("connected");
    let _ = conn.welcome(session, state.config.heartbeat_interval.as_millis() as u64);

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
                    Ok(m) => Box::pin(on_message(&mut conn, m)).await.err(),
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
        accounting::written(hub.metrics(), link.transport(), &written);
        written.clear();
        if let Some(end) = end {
            break end;
        }
        if std::mem::take(&mut conn.rearm) {
            timer = arm(&conn.access);
        }
    };

    conn.end(end);
    match end {
        End::Close(code) => {
            crate::transport::end::log_close(code);
            link.close(code);
            let goodbye = vec![conn.goodbye(code)];
            Box::pin(ws::close_with(&link, &sock, code, goodbye)).await;
        }
        End::Gone(reason) => tracing::debug!(reason, "gone"),
    }
    link.take_written(&mut written);
    accounting::written(hub.metrics(), link.transport(), &written);
}

/// Handles one client WebSocket message: a native frame goes to [`Conn`],
/// pings are answered, a close ends the session.
async fn on_message(conn: &mut Conn<'_>, m: WsMessage) -> Result<(), End> {
    conn.take_budget()?;
    match m {
        WsMessage::Text(bytes) => conn.on_frame(bytes, Format::Json).await,
        WsMessage::Binary(bytes) => conn.on_frame(bytes, Format::MsgPack).await,
        WsMessage::Ping(payload) => {
            ws::pong(conn.link(), &payload);
            Ok(())
        }
        WsMessage::Pong(_) => Ok(()),
        WsMessage::Close(_) => Err(End::Gone("client_closed")),
    }
}
