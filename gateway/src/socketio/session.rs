//! One Engine.IO session's task: reads the client's packets from its
//! transport, writes the outbox's room messages, pings, and switches from
//! long-polling to WebSocket when the client upgrades.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use herald_protocol::native::CloseCode;
use herald_protocol::sio::{EioData, EioPacket, decode_eio_text, encode_eio_text};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tracing::Instrument;

use super::SioState;
use super::polling::{Frame, Incoming, PollHandle};
use super::socket::{Sockets, Violation};
use crate::hub::outbox::Outbox;
use crate::server::admission::ConnPermit;

type Ws = WebSocketStream<TcpStream>;

/// The transport a session currently writes to.
pub enum Transport {
    /// A WebSocket (direct, or after an upgrade).
    Ws(Box<Ws>),
    /// HTTP long-polling through its shared handle.
    Polling(Arc<PollHandle>),
}

/// How a session ended.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The gateway closes it for this reason.
    Close(CloseCode),
    /// The client left or the transport failed.
    Gone(&'static str),
}

/// Runs a session until it ends. `rx` carries a polling session's POSTs
/// and its upgrade (a WebSocket-only session has none: an idle channel
/// costs over 1 KB); `open` is written first (a WebSocket session's open
/// packet; a polling session's was the handshake reply).
pub async fn run(
    sio: Arc<SioState>,
    sid: String,
    transport: Transport,
    rx: Option<mpsc::Receiver<Incoming>>,
    permit: ConnPermit,
    open: Option<String>,
) {
    let kind = match transport {
        Transport::Ws(_) => "websocket",
        Transport::Polling(_) => "polling",
    };
    let span = tracing::info_span!("conn", session = %sid, transport = kind);
    run_inner(sio, sid, transport, rx, permit, open)
        .instrument(span)
        .await;
}

async fn run_inner(
    sio: Arc<SioState>,
    sid: String,
    mut transport: Transport,
    mut rx: Option<mpsc::Receiver<Incoming>>,
    permit: ConnPermit,
    open: Option<String>,
) {
    let app = sio.app.clone();
    let cfg = app.config.socketio.clone();
    let outbox = Outbox::new(app.outbox_limits());
    let mut sockets = Sockets::new(sio.clone(), sid.clone(), outbox.clone());
    let mut permit = Some(permit);
    let mut out: Vec<Frame> = open.into_iter().map(Frame::text).collect();
    let mut pending = VecDeque::new();
    let mut next_ping = Instant::now() + cfg.ping_interval;
    let mut pong_deadline: Option<Instant> = None;
    let shutdown = app.shutdown.clone();
    // Registered once: every connection waits on the same token, and
    // re-registering each turn would take its lock once per delivery.
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);
    tracing::debug!("connected");

    // This future lives as long as the session: work that runs briefly is
    // boxed rather than sized into it, and the heartbeat timer is one
    // boxed `Sleep`, reset each turn.
    let mut end = Box::pin(write(&mut transport, &mut out, &outbox, &app))
        .await
        .err();
    let mut timer = Box::pin(tokio::time::sleep_until(next_ping));
    while end.is_none() {
        let wake = pong_deadline.unwrap_or(next_ping);
        if timer.deadline() != wake {
            timer.as_mut().reset(wake);
        }
        let is_ws = matches!(transport, Transport::Ws(_));
        end = tokio::select! {
            biased;
            () = &mut stopping => Some(End::Close(CloseCode::Shutdown)),
            () = outbox.ready() => match outbox.drain(&mut pending) {
                Some(code) => Some(End::Close(code)),
                None => {
                    Box::pin(sockets.on_out(&mut pending, &mut out)).await;
                    None
                }
            },
            msg = next_ws(&mut transport), if is_ws => {
                match ws_packet(msg) {
                    Ok(packet) => Box::pin(on_packet(packet, &mut sockets, &mut out, &mut next_ping, &mut pong_deadline, &cfg)).await,
                    Err(end) => Some(end),
                }
            }
            incoming = next_incoming(&mut rx), if !is_ws => match incoming {
                None => Some(End::Gone("error")),
                Some(Incoming::Packets(packets)) => {
                    let mut end = None;
                    for packet in packets {
                        end = Box::pin(on_packet(packet, &mut sockets, &mut out, &mut next_ping, &mut pong_deadline, &cfg)).await;
                        if end.is_some() {
                            break;
                        }
                    }
                    end
                }
                Some(Incoming::Violation(reason)) => {
                    app.hub.metrics().client_error(reason);
                    tracing::debug!(reason, "transport violation");
                    Some(End::Close(if reason == "payload_too_large" {
                        CloseCode::FrameTooLarge
                    } else {
                        CloseCode::ProtocolViolation
                    }))
                }
                Some(Incoming::Upgrade(ws)) => {
                    if let Transport::Polling(handle) = &transport {
                        let mut queued = handle.take_all();
                        queued.append(&mut out);
                        out = queued;
                    }
                    sio.polling.remove(&sid);
                    transport = Transport::Ws(ws);
                    drop(permit.take());
                    permit = app.admission.try_admit("socketio_ws");
                    tracing::debug!("upgraded to websocket");
                    permit.is_none().then_some(End::Close(CloseCode::ConnectionLimit))
                }
            },
            () = timer.as_mut() => {
                if pong_deadline.is_some() {
                    Some(End::Close(CloseCode::HeartbeatTimeout))
                } else {
                    out.push(Frame::text("2"));
                    pong_deadline = Some(Instant::now() + cfg.ping_timeout);
                    None
                }
            }
        };
        if end.is_none() && !out.is_empty() {
            end = Box::pin(write(&mut transport, &mut out, &outbox, &app))
                .await
                .err();
            sockets.after_write();
        }
    }

    let end = end.unwrap_or(End::Gone("error"));
    let recoverable = !matches!(
        end,
        End::Close(CloseCode::Kicked | CloseCode::ProtocolViolation)
    );
    if matches!(end, End::Close(CloseCode::Kicked)) {
        // Socket.IO's server-side disconnect: the client does not reconnect.
        sockets.disconnect_frames(&mut out);
        let _ = Box::pin(tokio::time::timeout(
            Duration::from_secs(1),
            write(&mut transport, &mut out, &outbox, &app),
        ))
        .await;
    }
    sockets.finish(recoverable);
    let metrics = app.hub.metrics();
    match end {
        End::Close(code) => {
            metrics.disconnect(code.name());
            if code == CloseCode::SlowConsumer {
                tracing::info!("disconnected as a slow consumer");
            } else {
                tracing::debug!(reason = code.name(), "closing");
            }
        }
        End::Gone(reason) => {
            metrics.disconnect(reason);
            tracing::debug!(reason, "gone");
        }
    }
    match &mut transport {
        Transport::Polling(handle) => {
            handle.finish("1");
            sio.polling.remove(&sid);
        }
        Transport::Ws(ws) => {
            if let End::Close(code) = end {
                let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), async {
                    let _ = ws.feed(WsMessage::Text("1".into())).await;
                    (**ws)
                        .close(Some(CloseFrame {
                            code: WsCloseCode::from(u16::from(code)),
                            reason: code.name().into(),
                        }))
                        .await
                }))
                .await;
            }
        }
    }
    drop(permit);
}

/// The next POST or upgrade of a polling session; `None` once its HTTP
/// side is gone, and never for a session without a channel.
async fn next_incoming(rx: &mut Option<mpsc::Receiver<Incoming>>) -> Option<Incoming> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_ws(transport: &mut Transport) -> Option<Result<WsMessage, tungstenite::Error>> {
    match transport {
        Transport::Ws(ws) => ws.next().await,
        Transport::Polling(_) => std::future::pending().await,
    }
}

/// A WebSocket message as an Engine.IO packet, or why the session ends.
fn ws_packet(msg: Option<Result<WsMessage, tungstenite::Error>>) -> Result<Option<EioPacket>, End> {
    match msg {
        None | Some(Ok(WsMessage::Close(_))) => Err(End::Gone("client_closed")),
        Some(Ok(WsMessage::Text(text))) => decode_eio_text(text.as_str()).map(Some).map_err(|e| {
            tracing::debug!(error = %e, "bad Engine.IO packet");
            End::Close(CloseCode::ProtocolViolation)
        }),
        Some(Ok(WsMessage::Binary(bytes))) => Ok(Some(EioPacket::Message(EioData::Binary(bytes)))),
        Some(Ok(_)) => Ok(None),
        Some(Err(tungstenite::Error::Capacity(_))) => Err(End::Close(CloseCode::FrameTooLarge)),
        Some(Err(tungstenite::Error::Protocol(e))) => {
            tracing::debug!(error = %e, "WebSocket protocol violation");
            Err(End::Close(CloseCode::ProtocolViolation))
        }
        Some(Err(e)) => {
            tracing::debug!(error = %e, "read failed");
            Err(End::Gone("error"))
        }
    }
}

async fn on_packet(
    packet: impl Into<Option<EioPacket>>,
    sockets: &mut Sockets,
    out: &mut Vec<Frame>,
    next_ping: &mut Instant,
    pong_deadline: &mut Option<Instant>,
    cfg: &crate::config::SocketIoConfig,
) -> Option<End> {
    let packet = packet.into()?;
    let result = match packet {
        EioPacket::Pong(_) => {
            *pong_deadline = None;
            *next_ping = Instant::now() + cfg.ping_interval;
            Ok(())
        }
        EioPacket::Ping(data) => {
            if let Some(text) = encode_eio_text(&EioPacket::Pong(data)) {
                out.push(Frame::text(text));
            }
            Ok(())
        }
        EioPacket::Message(EioData::Text(text)) => sockets.on_text(&text, out).await,
        EioPacket::Message(EioData::Binary(bytes)) => sockets.on_binary(bytes, out).await,
        EioPacket::Close => return Some(End::Gone("client_closed")),
        EioPacket::Upgrade | EioPacket::Noop => Ok(()),
        EioPacket::Open(_) => Err(Violation {
            code: herald_protocol::native::ErrorCode::BadFrame.name(),
            reason: "clients do not send open packets".into(),
        }),
    };
    match result {
        Ok(()) => None,
        Err(v) => {
            sockets.count_error(v.code);
            tracing::debug!(reason = %v.reason, "protocol violation");
            Some(End::Close(CloseCode::ProtocolViolation))
        }
    }
}

/// Writes `out` (emptying it) to the transport.
async fn write(
    transport: &mut Transport,
    out: &mut Vec<Frame>,
    outbox: &Outbox,
    app: &crate::server::AppState,
) -> Result<(), End> {
    if out.is_empty() {
        return Ok(());
    }
    match transport {
        Transport::Polling(handle) => {
            let limits = &app.config.limits;
            let frames = std::mem::take(out);
            if handle.push(frames, limits.outbox_max_bytes, limits.outbox_max_messages) {
                Ok(())
            } else {
                app.hub.metrics().slow_consumers.increment(1);
                Err(End::Close(CloseCode::SlowConsumer))
            }
        }
        Transport::Ws(ws) => write_ws(ws, out, outbox).await,
    }
}

/// Feeds the frames and flushes once, giving up if the outbox is closed
/// meanwhile (a slow consumer must not hold the task in a blocked write).
async fn write_ws(ws: &mut Ws, out: &mut Vec<Frame>, outbox: &Outbox) -> Result<(), End> {
    let frames = std::mem::take(out);
    let write = async {
        for f in frames {
            let msg = match f {
                Frame::Text(t) => WsMessage::Text(t),
                Frame::Binary(b) => WsMessage::Binary(b),
            };
            ws.feed(msg).await?;
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
