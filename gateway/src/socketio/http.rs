//! The HTTP side of `/socket.io/`: handshakes, long-polling requests and
//! WebSocket upgrades, with the reference server's error replies
//! (`{"code":1,"message":"Session ID unknown"}` and so on).

use std::sync::Arc;
use std::time::Duration;

use crate::transport::socket::Socket;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_protocol::native::CloseCode;
use herald_protocol::sio::query::parse_query;
use herald_protocol::sio::{EioPacket, OpenInfo, decode_payload, encode_eio_text};
use herald_protocol::ws::{Limits, Opcode, WsMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::polling::{Incoming, PollError, PollHandle};
use super::session::{self, Transport};
use super::{SioState, random_id};
use crate::native::upgrade::{check_upgrade, into_socket, switching_protocols};
use crate::proxy::handshake::{Handshake, PeerAddr};
use crate::transport::frames::{Framing, ws_frame};
use crate::transport::link::{Chunk, Link, Wire};
use crate::transport::ws::WsReader;

/// How many POSTed payloads may wait for a busy session task.
const INCOMING_QUEUE: usize = 8;

/// How long a client has to finish the upgrade probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The reference server's transport error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EioHttpError {
    /// 0: the `transport` parameter names no transport.
    TransportUnknown,
    /// 1: no live session has this `sid` (here: none on this gateway).
    SessionIdUnknown,
    /// 2: a handshake must be a GET.
    BadHandshakeMethod,
    /// 3: the request does not fit the session's state.
    BadRequest,
    /// 4: the gateway refuses the connection (connection limit).
    Forbidden,
    /// 5: `EIO` is not 4.
    UnsupportedProtocolVersion,
}

impl EioHttpError {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reference message.
    pub fn message(self) -> &'static str {
        match self {
            Self::TransportUnknown => "Transport unknown",
            Self::SessionIdUnknown => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden => "Forbidden",
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }
}

impl IntoResponse for EioHttpError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Forbidden => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "code": self.code(), "message": self.message() });
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// The WebSocket limits of a Socket.IO connection: `maxPayload`.
fn ws_limits(sio: &SioState) -> Limits {
    let max = sio.app.config.socketio.max_payload as u64;
    Limits {
        max_frame: max,
        max_message: max,
    }
}

/// A new session's link: a socket's, or none for polling.
fn new_link(sio: &SioState, sid: &str, sock: Option<Arc<Socket>>) -> Arc<Link> {
    let framing = if sock.is_some() {
        Framing::WsSocketIo
    } else {
        Framing::PollSocketIo
    };
    Link::new(
        Arc::from(sid),
        framing,
        sock.map(|s| s as Arc<dyn Wire>),
        sio.app.link_limits(),
        sio.app.hub.metrics().clone(),
    )
}

fn open_packet(sio: &SioState, sid: &str, upgrades: &[&str]) -> String {
    let cfg = &sio.app.config.socketio;
    let info = OpenInfo {
        sid: sid.to_owned(),
        upgrades: upgrades.iter().map(|s| (*s).to_owned()).collect(),
        ping_interval: cfg.ping_interval.as_millis() as u64,
        ping_timeout: cfg.ping_timeout.as_millis() as u64,
        max_payload: cfg.max_payload as u64,
    };
    encode_eio_text(&EioPacket::Open(info)).unwrap_or_default()
}

fn text_reply(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Every request under `/socket.io/`.
pub async fn handler(State(sio): State<Arc<SioState>>, req: Request) -> Response {
    let query = req.uri().query().unwrap_or("").to_owned();
    let q = parse_query(&query);
    if q.eio != Some("4") {
        return EioHttpError::UnsupportedProtocolVersion.into_response();
    }
    let sid = q.sid.map(str::to_owned);
    match (q.transport, sid) {
        (Some("websocket"), None) => websocket(sio, req).await,
        (Some("websocket"), Some(sid)) => upgrade(sio, req, sid).await,
        (Some("polling"), None) if req.method() == Method::GET => handshake(sio, &req),
        (Some("polling"), None) => EioHttpError::BadHandshakeMethod.into_response(),
        (Some("polling"), Some(sid)) => match sio.polling.get(&sid) {
            // Unknown, or its client went away (an aborted GET) and the
            // task has not unregistered it yet.
            None => EioHttpError::SessionIdUnknown.into_response(),
            Some(handle)
                if matches!(
                    handle.link.closed(),
                    Some(crate::transport::link::Closed::Gone(_))
                ) =>
            {
                EioHttpError::SessionIdUnknown.into_response()
            }
            // Closed, and its last packet (the noop after a client's
            // close) already taken by a GET.
            Some(handle) if handle.link.spent() => EioHttpError::SessionIdUnknown.into_response(),
            Some(handle) if handle.expired() => {
                handle.link.close(CloseCode::HeartbeatTimeout);
                EioHttpError::SessionIdUnknown.into_response()
            }
            Some(handle) if req.method() == Method::GET => poll(sio, handle).await,
            Some(handle) if req.method() == Method::POST => post(sio, handle, req).await,
            Some(_) => EioHttpError::BadRequest.into_response(),
        },
        _ => EioHttpError::TransportUnknown.into_response(),
    }
}

/// The handshake's headers and address for the connect proxy; `None`
/// (nothing kept) without one.
fn handshake_of(sio: &SioState, req: &Request) -> Option<Box<Handshake>> {
    let proxy = &sio.app.config.proxy;
    proxy.connect_url.as_ref()?;
    Some(Box::new(Handshake::capture(
        &proxy.headers,
        req.headers(),
        req.extensions().get::<PeerAddr>().copied(),
    )))
}

/// A WebSocket-only session (`transports: ["websocket"]`).
async fn websocket(sio: Arc<SioState>, mut req: Request) -> Response {
    let accept = match check_upgrade(
        req.method(),
        req.headers(),
        &sio.app.config.socketio.cors_origins,
    ) {
        Ok(a) => a,
        // The origin policy's refusal is a 403, as on /ws.
        Err(resp) if resp.status() == StatusCode::FORBIDDEN => return *resp,
        Err(_) => return EioHttpError::BadRequest.into_response(),
    };
    let peer = req.extensions().get::<PeerAddr>().copied();
    let Some(permit) = sio.app.admit("socketio_ws", req.headers(), peer) else {
        return EioHttpError::Forbidden.into_response();
    };
    let handshake = handshake_of(&sio, &req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let tracker = sio.app.tracker.clone();
    let relays = tracker.clone();
    let task = async move {
        let Some((sock, leftover)) = Box::pin(into_socket(on_upgrade, &relays)).await else {
            return;
        };
        let opened = Instant::now();
        let sid = random_id();
        let open = open_packet(&sio, &sid, &[]);
        let sock = Arc::new(sock);
        let link = new_link(&sio, &sid, Some(sock.clone()));
        let reader = Box::new(WsReader::new(ws_limits(&sio), leftover));
        // A WebSocket session takes nothing over HTTP: no channel.
        session::run(
            sio,
            sid,
            Transport::Ws { sock, reader },
            link,
            None,
            permit,
            session::Opening {
                open: Some(open),
                handshake,
                opened,
            },
        )
        .await;
    };
    tracker.spawn(task);
    switching_protocols(&accept)
}

/// A polling handshake: a new session, answered with its open packet.
fn handshake(sio: Arc<SioState>, req: &Request) -> Response {
    let peer = req.extensions().get::<PeerAddr>().copied();
    let Some(permit) = sio.app.admit("socketio_polling", req.headers(), peer) else {
        return EioHttpError::Forbidden.into_response();
    };
    let sid = random_id();
    let (tx, rx) = mpsc::channel(INCOMING_QUEUE);
    let link = new_link(&sio, &sid, None);
    let opened = Instant::now();
    let cfg = &sio.app.config.socketio;
    let handle = PollHandle::new(
        tx,
        link.clone(),
        opened + cfg.ping_interval + cfg.ping_timeout,
    );
    sio.polling.insert(sid.clone(), handle.clone());
    let open = open_packet(&sio, &sid, &["websocket"]);
    let handshake = handshake_of(&sio, req);
    let tracker = sio.app.tracker.clone();
    tracker.spawn(session::run(
        sio,
        sid,
        Transport::Polling(handle),
        link,
        Some(rx),
        permit,
        session::Opening {
            open: None,
            handshake,
            opened,
        },
    ));
    text_reply(open)
}

/// Tells the session task its client broke a transport rule.
async fn violation(handle: &PollHandle, reason: &'static str) {
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        handle.tx.send(Incoming::Violation(reason)),
    )
    .await;
}

/// A GET: the queued packets, or a wait for some.
async fn poll(sio: Arc<SioState>, handle: Arc<PollHandle>) -> Response {
    let cfg = &sio.app.config.socketio;
    match handle.poll(cfg.ping_interval + cfg.ping_timeout).await {
        Ok(payload) => text_reply(payload),
        Err(PollError::Overlap) => {
            // As the reference server: an overlapping poll closes the session.
            violation(&handle, "poll_overlap").await;
            EioHttpError::BadRequest.into_response()
        }
    }
}

/// A POST: the client's packets.
async fn post(sio: Arc<SioState>, handle: Arc<PollHandle>, req: Request) -> Response {
    let max = sio.app.config.socketio.max_payload;
    let too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > max);
    let body = if too_large {
        None
    } else {
        axum::body::to_bytes(req.into_body(), max).await.ok()
    };
    let Some(body) = body else {
        violation(&handle, "payload_too_large").await;
        return (StatusCode::PAYLOAD_TOO_LARGE, "payload too large").into_response();
    };
    let packets = std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|text| decode_payload(text, max).map_err(|e| e.to_string()));
    let packets = match packets {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "bad polling payload");
            violation(&handle, "bad_frame").await;
            return EioHttpError::BadRequest.into_response();
        }
    };
    if handle.tx.send(Incoming::Packets(packets)).await.is_err() {
        return EioHttpError::SessionIdUnknown.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        "ok",
    )
        .into_response()
}

/// A WebSocket upgrade of the polling session `sid`: the probe
/// (`2probe`/`3probe`), a noop to release the pending poll, then `5`.
async fn upgrade(sio: Arc<SioState>, mut req: Request, sid: String) -> Response {
    let handle = sio.polling.get(&sid);
    let already = handle.is_none() && sio.upgraded.get(&sid).is_some();
    if handle.is_none() && !already {
        return EioHttpError::SessionIdUnknown.into_response();
    }
    let accept = match check_upgrade(
        req.method(),
        req.headers(),
        &sio.app.config.socketio.cors_origins,
    ) {
        Ok(a) => a,
        // The origin policy's refusal is a 403, as on /ws.
        Err(resp) if resp.status() == StatusCode::FORBIDDEN => return *resp,
        Err(_) => return EioHttpError::BadRequest.into_response(),
    };
    let Some(handle) = handle else {
        // A second WebSocket for a session that already upgraded.
        return refuse_second_websocket(&sio, &mut req, &accept);
    };
    if handle
        .upgrading
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return EioHttpError::BadRequest.into_response();
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let limits = ws_limits(&sio);
    let tracker = sio.app.tracker.clone();
    sio.app.tracker.clone().spawn(async move {
        let upgraded = match Box::pin(into_socket(on_upgrade, &tracker)).await {
            Some((sock, leftover)) => {
                let mut reader = WsReader::new(limits, leftover);
                match tokio::time::timeout(PROBE_TIMEOUT, probe(&sock, &mut reader, &handle)).await
                {
                    Ok(true) => Some((Arc::new(sock), reader)),
                    _ => None,
                }
            }
            None => None,
        };
        match upgraded {
            Some(ws) => {
                let _ = handle.tx.send(Incoming::Upgrade(Box::new(ws))).await;
            }
            None => {
                tracing::debug!("upgrade probe failed");
                handle
                    .upgrading
                    .store(false, std::sync::atomic::Ordering::Release);
            }
        }
    });
    switching_protocols(&accept)
}

/// Completes the handshake of a WebSocket whose session already has one,
/// then closes it (1000), leaving the session untouched.
fn refuse_second_websocket(sio: &SioState, req: &mut Request, accept: &str) -> Response {
    let on_upgrade = hyper::upgrade::on(req);
    let tracker = sio.app.tracker.clone();
    sio.app.tracker.spawn(async move {
        if let Some((sock, _)) = Box::pin(into_socket(on_upgrade, &tracker)).await {
            let close = ws_frame(Opcode::Close, &1000u16.to_be_bytes());
            let _ = tokio::time::timeout(PROBE_TIMEOUT, write_all(&sock, &close)).await;
        }
    });
    switching_protocols(accept)
}

/// Writes `bytes` to a socket no one else writes to yet.
async fn write_all(sock: &Socket, bytes: &[u8]) -> bool {
    let mut at = 0;
    while at < bytes.len() {
        if sock.writable().await.is_err() {
            return false;
        }
        match sock.try_write(&bytes[at..]) {
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

/// The upgrade probe: `2probe` answered with `3probe`, a noop releasing
/// the client's pending poll, then the client's `5`.
async fn probe(sock: &Socket, reader: &mut WsReader, handle: &PollHandle) -> bool {
    let text = |m: &WsMessage, want: &str| m.as_text() == Some(want);
    match reader.next(sock).await {
        Ok(m) if text(&m, "2probe") => {}
        _ => return false,
    }
    if !write_all(sock, &ws_frame(Opcode::Text, b"3probe")).await {
        return false;
    }
    // Release the client's pending poll so it can pause polling.
    let _ = handle.link.write([Chunk::plain(Bytes::from_static(b"6"))]);
    matches!(reader.next(sock).await, Ok(m) if text(&m, "5"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_reference_shape() {
        assert_eq!(EioHttpError::SessionIdUnknown.code(), 1);
        assert_eq!(EioHttpError::UnsupportedProtocolVersion.code(), 5);
        assert_eq!(
            EioHttpError::TransportUnknown.message(),
            "Transport unknown"
        );
    }
}
