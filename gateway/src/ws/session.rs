//! One native WebSocket connection.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use herald_protocol::bus::Publication;
use herald_protocol::native::{
    ClientFrame, CloseCode, ErrorCode, Format, ServerFrame, decode_client, encode_server,
};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::hub::outbox::Outbox;
use crate::hub::subscriptions::{Emit, Subscriptions, finish_live};
use crate::server::AppState;
use crate::server::admission::ConnPermit;

type Ws = WebSocketStream<TcpStream>;

/// How a session ended.
enum End {
    /// The gateway closes with this code.
    Close(CloseCode),
    /// The client closed, or the socket failed; nothing more to send.
    Gone(&'static str),
}

/// The WebSocket handshake still to finish: `None` when the upgrade failed.
pub type Handshake = Pin<Box<dyn Future<Output = Option<Ws>> + Send>>;

/// Refuses a connection the gateway has no room for.
pub async fn refuse(handshake: Handshake, code: CloseCode, format: Format) {
    let Some(mut ws) = handshake.await else {
        return;
    };
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        close(&mut ws, code, format),
    )
    .await;
}

/// Runs a session until either side closes it. Call it inside the
/// connection's span, which has an empty `peer` field to fill.
pub async fn run(
    handshake: Handshake,
    state: Arc<AppState>,
    mut format: Format,
    session: String,
    _permit: ConnPermit,
) {
    // Awaiting the boxed handshake here keeps one copy of the socket in
    // this future, which lives as long as the connection.
    let Some(mut ws) = handshake.await else {
        return;
    };
    if let Ok(peer) = ws.get_ref().peer_addr() {
        tracing::Span::current().record("peer", tracing::field::display(peer));
    }
    let hub = state.hub.clone();
    let limits = &state.config.limits;
    let outbox = Outbox::new(state.outbox_limits());
    let conn = hub.register(session.clone(), None, outbox.clone());
    let mut subs = Subscriptions::new(
        hub.clone(),
        conn,
        outbox.clone(),
        limits.max_rooms_per_connection,
        state.config.snapshot_depth,
    );
    tracing::debug!("connected");
    let welcome = frame(
        &ServerFrame::Welcome {
            session,
            node: state.config.node_id.clone(),
            heartbeat_ms: state.config.heartbeat_interval.as_millis() as u64,
            max_frame_bytes: limits.max_frame_bytes as u64,
            max_rooms: limits.max_rooms_per_connection as u64,
        },
        format,
    );
    let mut end = Box::pin(send_frames(&mut ws, &outbox, vec![welcome]))
        .await
        .err();

    let interval = state.config.heartbeat_interval;
    let dead_after = interval + state.config.heartbeat_timeout;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_seen = Instant::now();
    let mut pending = VecDeque::new();
    let mut emits = Vec::new();
    let shutdown = state.shutdown.clone();
    // Registered once: every connection waits on the same token, and
    // re-registering each turn would take its lock once per delivery.
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);

    while end.is_none() {
        tokio::select! {
            biased;
            () = &mut stopping => end = Some(End::Close(CloseCode::Shutdown)),
            () = outbox.ready() => {
                if let Some(code) = outbox.drain(&mut pending) {
                    end = Some(End::Close(code));
                    continue;
                }
                while let Some(out) = pending.pop_front() {
                    Box::pin(subs.on_out(out, &mut emits)).await;
                }
                end = Box::pin(flush_emits(&mut ws, &state, &outbox, &mut subs, &mut emits, format)).await.err();
            }
            incoming = ws.next() => {
                last_seen = Instant::now();
                end = match incoming {
                    None => Some(End::Gone("client_closed")),
                    Some(Ok(WsMessage::Text(text))) => {
                        format = Format::Json;
                        Box::pin(handle_frame(text.as_bytes(), format, &mut ws, &state, &outbox, &mut subs, &mut emits)).await.err()
                    }
                    Some(Ok(WsMessage::Binary(bytes))) => {
                        format = Format::MsgPack;
                        Box::pin(handle_frame(&bytes, format, &mut ws, &state, &outbox, &mut subs, &mut emits)).await.err()
                    }
                    Some(Ok(WsMessage::Close(_))) => Some(End::Gone("client_closed")),
                    Some(Ok(_)) => None,
                    Some(Err(tungstenite::Error::Capacity(_))) => Some(End::Close(CloseCode::FrameTooLarge)),
                    Some(Err(tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ))) => Some(End::Gone("client_closed")),
                    Some(Err(tungstenite::Error::Protocol(e))) => {
                        tracing::debug!(error = %e, "protocol violation");
                        Some(End::Close(CloseCode::ProtocolViolation))
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "read failed");
                        Some(End::Gone("error"))
                    }
                };
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > dead_after {
                    end = Some(End::Close(CloseCode::HeartbeatTimeout));
                } else {
                    end = Box::pin(send_frames(&mut ws, &outbox, vec![WsMessage::Ping(Default::default())])).await.err();
                }
            }
        }
    }

    subs.leave_all();
    hub.unregister(conn);
    let metrics = hub.metrics();
    match end {
        Some(End::Close(code)) => {
            metrics.disconnect(code.name());
            if code == CloseCode::SlowConsumer {
                tracing::info!("disconnected as a slow consumer");
            } else {
                tracing::debug!(code = code.name(), "closing");
            }
            // A slow or dead peer may never read this: bound the goodbye.
            let _ = Box::pin(tokio::time::timeout(
                std::time::Duration::from_secs(1),
                close(&mut ws, code, format),
            ))
            .await;
        }
        Some(End::Gone(reason)) => {
            metrics.disconnect(reason);
            tracing::debug!(reason, "gone");
        }
        None => {}
    }
}

/// Decodes and applies one client frame.
async fn handle_frame(
    bytes: &[u8],
    format: Format,
    ws: &mut Ws,
    state: &AppState,
    outbox: &Outbox,
    subs: &mut Subscriptions,
    emits: &mut Vec<Emit>,
) -> Result<(), End> {
    let mut replies = Vec::new();
    match decode_client(bytes, format) {
        Err((e, id)) => {
            state.hub.metrics().client_error(e.code().name());
            replies.push(ServerFrame::error(e.code(), e.to_string(), id));
        }
        Ok(ClientFrame::Subscribe {
            room,
            since,
            leave_others,
            id,
        }) => {
            if leave_others {
                let others: Vec<_> = subs
                    .rooms()
                    .filter(|r| r.as_str() != room.as_str())
                    .cloned()
                    .collect();
                for other in others {
                    subs.unsubscribe(&other);
                }
            }
            if let Err(e) = subs.subscribe(room, since, id, emits).await {
                let code = match e {
                    crate::hub::subscriptions::SubscribeError::TooManyRooms(_) => {
                        ErrorCode::TooManyRooms
                    }
                    crate::hub::subscriptions::SubscribeError::Bus(_) => ErrorCode::BusUnavailable,
                };
                state.hub.metrics().client_error(code.name());
                replies.push(ServerFrame::error(code, e.to_string(), id));
            }
        }
        Ok(ClientFrame::Unsubscribe { room, id }) => {
            if subs.unsubscribe(&room) {
                replies.push(ServerFrame::Unsubscribed {
                    room: room.to_string(),
                    id,
                });
            } else {
                replies.push(ServerFrame::error(
                    ErrorCode::NotSubscribed,
                    format!("not subscribed to {room}"),
                    id,
                ));
            }
        }
        Ok(ClientFrame::LeaveAll { id }) => {
            let rooms: Vec<_> = subs.rooms().cloned().collect();
            subs.leave_all();
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
            replies.push(client_publish(state, room.to_string(), event, data, id).await);
        }
        Ok(ClientFrame::Ping { id }) => replies.push(ServerFrame::Pong { id }),
    }
    // Subscription output first (it answers the request), then replies.
    flush_emits(ws, state, outbox, subs, emits, format).await?;
    let frames: Vec<WsMessage> = replies.iter().map(|f| frame(f, format)).collect();
    send_frames(ws, outbox, frames).await
}

async fn client_publish(
    state: &AppState,
    room: String,
    event: String,
    data: serde_json::Value,
    id: Option<u64>,
) -> ServerFrame {
    let metrics = state.hub.metrics();
    if !state.config.allow_client_publish {
        metrics.client_error(ErrorCode::PermissionDenied.name());
        return ServerFrame::error(
            ErrorCode::PermissionDenied,
            "client publishes are disabled on this gateway",
            id,
        );
    }
    let publication = Publication {
        room: room.clone(),
        event,
        data,
        ts_ms: crate::clock::unix_ms(),
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
    };
    match state.hub.bus().publish(vec![publication]).await.pop() {
        Some(Ok(pos)) => {
            metrics.publishes_client.increment(1);
            ServerFrame::Published {
                room,
                epoch: pos.epoch,
                offset: pos.offset,
                id,
            }
        }
        Some(Err(e)) => {
            metrics.publish_errors.increment(1);
            ServerFrame::error(ErrorCode::BusUnavailable, e.to_string(), id)
        }
        None => ServerFrame::error(ErrorCode::Internal, "the bus returned no result", id),
    }
}

/// Writes pending subscription output, then marks live deliveries written.
async fn flush_emits(
    ws: &mut Ws,
    state: &AppState,
    outbox: &Outbox,
    subs: &mut Subscriptions,
    emits: &mut Vec<Emit>,
    format: Format,
) -> Result<(), End> {
    let mut delivered = 0u64;
    let frames: Vec<WsMessage> = emits
        .drain(..)
        .map(|e| match e {
            Emit::Message(m) => {
                delivered += 1;
                match format {
                    Format::Json => WsMessage::Text(m.json_frame()),
                    Format::MsgPack => WsMessage::Binary(m.msgpack_frame()),
                }
            }
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
        })
        .collect();
    let result = send_frames(ws, outbox, frames).await;
    if result.is_ok() && delivered > 0 {
        state.hub.metrics().delivered.increment(delivered);
    }
    finish_live(&state.hub, &subs.take_live_done());
    result
}

/// Feeds `frames` and flushes once, giving up if the outbox is closed
/// meanwhile (a slow consumer must not hold the task in a blocked write).
async fn send_frames(ws: &mut Ws, outbox: &Outbox, frames: Vec<WsMessage>) -> Result<(), End> {
    let write = async {
        for f in frames {
            ws.feed(f).await?;
        }
        ws.flush().await
    };
    match outbox.guard(write).await {
        Ok(r) => r.map_err(|e| {
            tracing::debug!(error = %e, "write failed");
            End::Gone("error")
        }),
        Err(code) => Err(End::Close(code)),
    }
}

fn frame(f: &ServerFrame, format: Format) -> WsMessage {
    let bytes = encode_server(f, format);
    match format {
        Format::Json => match String::from_utf8(bytes) {
            Ok(s) => WsMessage::Text(s.into()),
            Err(e) => WsMessage::Binary(e.into_bytes().into()),
        },
        Format::MsgPack => WsMessage::Binary(bytes.into()),
    }
}

/// Sends the `disconnect` frame and a close frame with the same code.
async fn close(ws: &mut Ws, code: CloseCode, format: Format) {
    let _ = ws.feed(frame(&ServerFrame::disconnect(code), format)).await;
    let _ = ws
        .close(Some(CloseFrame {
            code: WsCloseCode::from(u16::from(code)),
            reason: code.name().into(),
        }))
        .await;
}
