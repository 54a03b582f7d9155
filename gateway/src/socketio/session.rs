//! One Engine.IO session's task: reads the client's packets from its
//! transport, handles what the hub queued, pings, and switches from
//! long-polling to WebSocket when the client upgrades. Writing, close
//! reasons and the slow-consumer rule are the transport core's.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::transport::socket::Socket;
use bytes::Bytes;
use herald_protocol::native::CloseCode;
use herald_protocol::sio::{EioData, EioPacket, decode_eio_text, encode_eio_text};
use herald_protocol::ws::{Opcode, WsMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use super::SioState;
use super::polling::{Frame, Incoming, PollHandle};
use super::socket::{Done, Sockets, Violation};
use crate::proxy::handshake::Handshake;
use crate::server::admission::ConnPermit;
use crate::transport::end::End;
use crate::transport::frames::{Framing, SioEncoding, ws_frame};
use crate::transport::link::{Chunk, Link, Wire};
use crate::transport::ws::{self, WsReader};
use crate::transport::{accounting, span};

/// How long a polling session whose client sent a close (`1`) with no GET
/// waiting keeps its last noop for a GET sent at the same moment.
pub const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// The transport a session currently reads from.
pub enum Transport {
    /// A WebSocket (direct, or after an upgrade).
    Ws {
        /// The socket, shared with the link.
        sock: Arc<Socket>,
        /// Its reader.
        reader: Box<WsReader>,
    },
    /// HTTP long-polling through its shared handle.
    Polling(Arc<PollHandle>),
}

/// How a session begins, besides its transport.
pub struct Opening {
    /// Written first: a WebSocket session's open packet (a polling
    /// session's was the handshake reply).
    pub open: Option<String>,
    /// The handshake's headers and address, for the connect proxy.
    pub handshake: Option<Box<Handshake>>,
    /// When the client was handed its session: the first ping and the
    /// connect timeout count from here, not from the task's first turn
    /// (which a busy runtime may delay).
    pub opened: Instant,
}

/// Runs a session until it ends. `link` is the session's write side
/// (created with the transport: a socket, or none for polling); `rx`
/// carries a polling session's POSTs and its upgrade (a WebSocket-only
/// session has none: an idle channel costs over 1 KB).
pub async fn run(
    sio: Arc<SioState>,
    sid: String,
    transport: Transport,
    link: Arc<Link>,
    rx: Option<mpsc::Receiver<Incoming>>,
    permit: ConnPermit,
    opening: Opening,
) {
    let kind = match transport {
        Transport::Ws { .. } => "websocket",
        Transport::Polling(_) => "polling",
    };
    let span = span::connection(&sid, kind);
    run_inner(sio, sid, transport, link, rx, permit, opening)
        .instrument(span)
        .await;
}

/// Frames `out` for the link's current wire and writes it.
fn write(link: &Link, out: &mut Vec<Frame>) -> Result<(), End> {
    if out.is_empty() {
        return Ok(());
    }
    let framing = link.framing();
    let chunks: Vec<Chunk> = out.drain(..).map(|f| chunk(link, f, framing)).collect();
    link.write(chunks).map_err(End::from)
}

fn chunk(link: &Link, f: Frame, framing: Framing) -> Chunk {
    let framed = framing.is_framed();
    match f {
        Frame::Text(t) => Chunk {
            bytes: if framed {
                ws_frame(Opcode::Text, &t)
            } else {
                t
            },
            binary: false,
            done: None,
        },
        Frame::Binary(b) => Chunk {
            bytes: if framed {
                ws_frame(Opcode::Binary, &b)
            } else {
                b
            },
            binary: true,
            done: None,
        },
        Frame::Event {
            b,
            nsp_id,
            nsp,
            recovery,
            live,
        } => {
            link.log_sent(nsp_id, &b.room, b.offset);
            Chunk {
                bytes: b.sio(
                    SioEncoding {
                        nsp: &nsp,
                        recovery,
                    },
                    framing,
                ),
                binary: false,
                done: live.then_some(b),
            }
        }
    }
}

/// A packet written unframed, re-framed for a WebSocket after an upgrade.
/// A queued noop only ever ended a pending poll, and is dropped (the
/// reference server never sends one over the WebSocket).
fn reframe(c: &Chunk) -> Option<Bytes> {
    if !c.binary && c.bytes[..] == b"6"[..] {
        return None;
    }
    Some(ws_frame(
        if c.binary {
            Opcode::Binary
        } else {
            Opcode::Text
        },
        &c.bytes,
    ))
}

async fn run_inner(
    sio: Arc<SioState>,
    sid: String,
    mut transport: Transport,
    link: Arc<Link>,
    mut rx: Option<mpsc::Receiver<Incoming>>,
    permit: ConnPermit,
    Opening {
        open,
        handshake,
        opened,
    }: Opening,
) {
    let app = sio.app.clone();
    let cfg = app.config.socketio.clone();
    let mut sockets = Sockets::new(sio.clone(), sid.clone(), link.clone(), handshake);
    let mut permit = Some(permit);
    let mut out: Vec<Frame> = open.into_iter().map(Frame::text).collect();
    let mut inbox = VecDeque::new();
    let mut written = Vec::new();
    let mut next_ping = opened + cfg.ping_interval;
    let mut pong_deadline: Option<Instant> = None;
    // What the polling side was last told of the pong deadline.
    let mut published_deadline: Option<Instant> = None;
    // Until the first CONNECT: a session that only answers pings would
    // hold its connection slot forever.
    let mut connect_deadline = Some(opened + cfg.connect_timeout);
    let shutdown = app.shutdown.clone();
    // Registered once: every connection waits on the same token, and
    // re-registering each turn would take its lock once per delivery.
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);
    tracing::debug!("connected");

    // This future lives as long as the session: work that runs briefly is
    // boxed rather than sized into it, and the heartbeat timer is one
    // boxed `Sleep`, reset each turn.
    let mut end = write(&link, &mut out).err();
    let mut timer = Box::pin(tokio::time::sleep_until(next_ping));
    while end.is_none() {
        if connect_deadline.is_some() && sockets.connected() {
            connect_deadline = None;
        }
        // The time a pong must have come by: the pending ping's deadline,
        // or the next ping's (due `ping_timeout` after it is scheduled, as
        // `on_timer` reckons it), so that the HTTP side refuses a late
        // poll even when this task is late to send the ping. Published
        // only when it changes (no lock per delivery turn), and before each
        // wait, the first one included.
        let deadline = Some(pong_deadline.unwrap_or(next_ping + cfg.ping_timeout));
        if let Transport::Polling(handle) = &transport
            && published_deadline != deadline
        {
            handle.set_pong_deadline(deadline);
            published_deadline = deadline;
        }
        let heartbeat = pong_deadline.unwrap_or(next_ping);
        let expiry = sockets.expiry();
        let wake = [connect_deadline, expiry]
            .into_iter()
            .flatten()
            .fold(heartbeat, Instant::min);
        if timer.deadline() != wake {
            timer.as_mut().reset(wake);
        }
        let queued = link.has_queued();
        let backend = sockets.awaiting_backend();
        end = match &mut transport {
            Transport::Ws { sock, reader } => tokio::select! {
                biased;
                () = &mut stopping => Some(End::Close(CloseCode::Shutdown)),
                () = link.notified() => on_notified(&link, &mut sockets, &mut inbox, &mut out).await,
                open = ws::flush(&link, sock), if queued => {
                    (!open).then(|| link.closed().map_or(End::Gone("error"), End::from))
                }
                msg = reader.next(sock) => match msg {
                    Ok(m) => match ws_packet(m, &link) {
                        Ok(packet) => Box::pin(on_packet(packet, &mut sockets, &mut out, &mut next_ping, &mut pong_deadline, &cfg)).await,
                        Err(end) => Some(end),
                    },
                    Err(e) => Some(End::from(e)),
                },
                done = sockets.backend_reply(), if backend => Box::pin(on_backend(done, &mut sockets, &mut out)).await,
                () = timer.as_mut() => {
                    // Every ping: live recovery records are kept fresh on
                    // the heartbeat, not on every wake.
                    sockets.refresh_live();
                    on_timer(&mut out, heartbeat, &mut pong_deadline, [connect_deadline, expiry], &cfg)
                }
            },
            Transport::Polling(_) => tokio::select! {
                biased;
                () = &mut stopping => Some(End::Close(CloseCode::Shutdown)),
                () = link.notified() => on_notified(&link, &mut sockets, &mut inbox, &mut out).await,
                incoming = next_incoming(&mut rx) => match incoming {
                    None => Some(End::Gone("error")),
                    Some(Incoming::Packets(packets)) => {
                        let mut end = None;
                        for packet in packets {
                            end = Box::pin(on_packet(Some(packet), &mut sockets, &mut out, &mut next_ping, &mut pong_deadline, &cfg)).await;
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
                    Some(Incoming::Upgrade(upgraded)) => {
                        let (sock, reader) = *upgraded;
                        if let Some(handle) = sio.polling.get(&sid) {
                            sio.upgraded.insert(sid.clone(), handle);
                        }
                        sio.polling.remove(&sid);
                        // Packets still queued for a poll go first, over the socket.
                        link.set_wire(Framing::WsSocketIo, Some(sock.clone() as Arc<dyn Wire>), reframe);
                        transport = Transport::Ws { sock, reader: Box::new(reader) };
                        // The address's place moves to the new permit.
                        let ip = permit.take().and_then(|mut p| p.ip.take());
                        permit = app.admission.try_admit("socketio_ws").map(|mut p| {
                            p.ip = ip;
                            p
                        });
                        tracing::debug!("upgraded to websocket");
                        permit.is_none().then_some(End::Close(CloseCode::ConnectionLimit))
                    }
                },
                done = sockets.backend_reply(), if backend => Box::pin(on_backend(done, &mut sockets, &mut out)).await,
                () = timer.as_mut() => {
                    // Every ping: live recovery records are kept fresh on
                    // the heartbeat, not on every wake.
                    sockets.refresh_live();
                    on_timer(&mut out, heartbeat, &mut pong_deadline, [connect_deadline, expiry], &cfg)
                }
            },
        };
        // A subscribe flood's error ack goes out before the close notice.
        if !out.is_empty() && end.is_none_or(|e| e == End::Close(CloseCode::SubscribeFlood)) {
            end = write(&link, &mut out).err().or(end);
        }
        if end.is_none() {
            sockets.settle();
        }
        link.take_written(&mut written);
        accounting::written(app.hub.metrics(), link.transport(), &written);
        written.clear();
    }

    let end = end.unwrap_or(End::Gone("error"));
    // Connection state recovery keeps the session when the client went
    // away on its own or was told to come back (a drain, a heartbeat
    // timeout); never after a kick or a protocol violation.
    let recoverable = !matches!(
        end,
        End::Close(CloseCode::Kicked | CloseCode::ProtocolViolation)
    );
    let mut goodbye = Vec::new();
    if matches!(end, End::Close(CloseCode::Kicked)) {
        // Socket.IO's server-side disconnect: the client does not reconnect.
        sockets.disconnect_frames(&mut goodbye);
    }
    if let End::Close(
        code @ (CloseCode::TokenExpired | CloseCode::FrameFlood | CloseCode::SubscribeFlood),
    ) = end
    {
        // Then a transport close: the client reconnects on its own, and
        // an `auth` callback gives it a fresh token.
        sockets.closing_notice(code, &mut goodbye);
    }
    sockets.finish(recoverable);
    app.hub.metrics().disconnect(end.reason());
    match end {
        End::Close(CloseCode::SlowConsumer) => {
            tracing::info!("disconnected as a slow consumer")
        }
        End::Close(code) => tracing::debug!(reason = code.name(), "closing"),
        End::Gone(reason) => tracing::debug!(reason, "gone"),
    }
    if let End::Close(code) = end {
        link.close(code);
    }
    match &transport {
        Transport::Polling(handle) => {
            let framing = link.framing();
            let mut last: Vec<Chunk> = goodbye
                .into_iter()
                .map(|f| chunk(&link, f, framing))
                .collect();
            // A client that closed on its own gets a noop on its pending
            // GET, to end that request cleanly; any other end is a close.
            let bye: &'static [u8] = if matches!(end, End::Gone("client_closed")) {
                b"6"
            } else {
                b"1"
            };
            last.push(Chunk::plain(Bytes::from_static(bye)));
            // A client closing while no GET waits may have sent its GET
            // with the close (the official suites do), and that GET may
            // reach the gateway second: the noop waits for it, briefly.
            let linger = matches!(end, End::Gone("client_closed")) && !handle.get_pending();
            if !linger {
                // Unregistered before the last packets are released: a
                // client that sends its next request the moment it gets
                // them must already find the session gone (400).
                sio.polling.remove(&sid);
            }
            link.close(CloseCode::Normal);
            link.finish(last);
            if linger {
                // Once the noop is taken the link is spent, and requests
                // get 400 even before the session is unregistered.
                let taken = async {
                    while link.has_queued() {
                        link.notified().await;
                    }
                };
                let _ = tokio::time::timeout(CLOSE_LINGER, taken).await;
                sio.polling.remove(&sid);
            }
        }
        Transport::Ws { sock, .. } => {
            if let End::Close(code) = end {
                let framing = link.framing();
                let mut last: Vec<Chunk> = goodbye
                    .into_iter()
                    .map(|f| chunk(&link, f, framing))
                    .collect();
                last.push(Chunk::plain(ws_frame(Opcode::Text, b"1")));
                Box::pin(ws::close_with(&link, sock, code, last)).await;
            }
        }
    }
    sio.upgraded.remove(&sid);
    link.take_written(&mut written);
    accounting::written(app.hub.metrics(), link.transport(), &written);
    drop(permit);
}

/// The hub queued something, or the link was closed.
async fn on_notified(
    link: &Link,
    sockets: &mut Sockets,
    inbox: &mut VecDeque<crate::transport::link::Out>,
    out: &mut Vec<Frame>,
) -> Option<End> {
    match link.take_inbox(inbox) {
        Some(closed) => Some(End::from(closed)),
        None => {
            Box::pin(sockets.on_out(inbox, out)).await;
            None
        }
    }
}

/// The session's timer fired: a connect timeout, a missed pong, or the
/// next ping (`heartbeat` is the heartbeat's own deadline).
fn on_timer(
    out: &mut Vec<Frame>,
    heartbeat: Instant,
    pong_deadline: &mut Option<Instant>,
    [connect_deadline, expiry]: [Option<Instant>; 2],
    cfg: &crate::config::SocketIoConfig,
) -> Option<End> {
    let now = Instant::now();
    if connect_deadline.is_some_and(|c| now >= c) {
        tracing::debug!("no CONNECT within the connect timeout");
        return Some(End::Close(CloseCode::HeartbeatTimeout));
    }
    if expiry.is_some_and(|e| now >= e) {
        tracing::debug!("token expired");
        return Some(End::Close(CloseCode::TokenExpired));
    }
    if now < heartbeat {
        return None;
    }
    if pong_deadline.is_some() {
        return Some(End::Close(CloseCode::HeartbeatTimeout));
    }
    out.push(Frame::text("2"));
    // From when the ping was due, not from when this task got to it: a
    // late wake-up must not stretch the deadline (a polling request after
    // it is refused by the HTTP side, see `PollHandle::expired`).
    *pong_deadline = Some(heartbeat + cfg.ping_timeout);
    None
}

/// The next POST or upgrade of a polling session; `None` once its HTTP
/// side is gone, and never for a session without a channel.
async fn next_incoming(rx: &mut Option<mpsc::Receiver<Incoming>>) -> Option<Incoming> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A WebSocket message as an Engine.IO packet, or why the session ends.
fn ws_packet(msg: WsMessage, link: &Link) -> Result<Option<EioPacket>, End> {
    match msg {
        WsMessage::Close(_) => Err(End::Gone("client_closed")),
        WsMessage::Text(bytes) => {
            let text = std::str::from_utf8(&bytes).unwrap_or_default();
            decode_eio_text(text).map(Some).map_err(|e| {
                tracing::debug!(error = %e, "bad Engine.IO packet");
                End::Close(CloseCode::ProtocolViolation)
            })
        }
        WsMessage::Binary(bytes) => Ok(Some(EioPacket::Message(EioData::Binary(bytes)))),
        WsMessage::Ping(payload) => {
            ws::pong(link, &payload);
            Ok(None)
        }
        WsMessage::Pong(_) => Ok(None),
    }
}

/// Applies an application-backend answer; a packet it released that
/// breaks the protocol closes the session.
async fn on_backend(done: Done, sockets: &mut Sockets, out: &mut Vec<Frame>) -> Option<End> {
    let v = sockets.on_backend(done, out).await.err()?;
    sockets.count_error(v.code);
    tracing::debug!(reason = %v.reason, "protocol violation");
    Some(End::Close(CloseCode::ProtocolViolation))
}

async fn on_packet(
    packet: Option<EioPacket>,
    sockets: &mut Sockets,
    out: &mut Vec<Frame>,
    next_ping: &mut Instant,
    pong_deadline: &mut Option<Instant>,
    cfg: &crate::config::SocketIoConfig,
) -> Option<End> {
    let packet = packet?;
    if !sockets.take_frame() {
        sockets.count_error(herald_protocol::native::ErrorCode::RateLimited.name());
        tracing::info!("closed for sending packets too fast");
        return Some(End::Close(CloseCode::FrameFlood));
    }
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
        Ok(()) => sockets.take_closing().map(End::Close),
        Err(v) => {
            sockets.count_error(v.code);
            tracing::debug!(reason = %v.reason, "protocol violation");
            Some(End::Close(CloseCode::ProtocolViolation))
        }
    }
}
