//! One QUIC or WebTransport session: the native session
//! (`native::conn::Conn`) on the one bidirectional stream the client
//! opens, each frame a `herald_protocol::stream` head and its payload.
//!
//! A quinn stream's writes are async, so the link has no direct `Wire`:
//! the fan-out queues a broadcast's stream-framed bytes (built once per
//! format, `Broadcast::stream_native`) and this task drains the queue into
//! the stream with one `write_all_chunks` at a time. While a write waits
//! for the client's flow control, the link's bounded queue fills; passing
//! `--outbox-max-*` closes the session as a slow consumer (4002), as on
//! every transport.
//!
//! Closing: the `disconnect` frame, the stream finished, a short wait for
//! the client to take it ([`LINGER`]), then the session (WebTransport) or
//! connection (raw QUIC) closed with the native close code.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_protocol::native::{CloseCode, ErrorCode, Format, ServerFrame};
use herald_protocol::stream::{Decoder, StreamError};
use web_transport_quinn::{RecvStream, SendStream, Session, WriteError};

use crate::native::conn::{Conn, NativeWire, arm, until};
use crate::proxy::handshake::PeerAddr;
use crate::server::AppState;
use crate::transport::end::End;
use crate::transport::link::{Chunk, Link};
use crate::transport::{accounting, span};

/// How long a client has to open its session stream.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the close sequence waits for a write in flight, and for the
/// client to take the `disconnect` frame, before closing anyway.
pub const LINGER: Duration = Duration::from_secs(1);

/// Largest read from the stream at once.
const READ_CHUNK: usize = 64 * 1024;

/// A write in flight: it owns the stream and gives it back.
type Writing = Pin<Box<dyn Future<Output = (SendStream, Result<(), WriteError>)> + Send>>;

fn write(mut send: SendStream, chunks: Vec<Chunk>) -> Writing {
    Box::pin(async move {
        let mut bufs: Vec<Bytes> = chunks.into_iter().map(|c| c.bytes).collect();
        let r = send.write_all_chunks(&mut bufs).await;
        (send, r)
    })
}

/// A WebTransport URL's query parameter.
fn param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The initial encoding a WebTransport URL asks for (`?format=msgpack`).
fn initial_format(query: Option<&str>) -> Format {
    match param(query, "format") {
        Some("msgpack") => Format::MsgPack,
        _ => Format::Json,
    }
}

/// Closes `session` with `code` after `goodbye` (the `disconnect` frame)
/// is written to `send` (when there is a stream) and taken, or
/// [`LINGER`] passed.
async fn close(
    session: &Session,
    send: Option<SendStream>,
    goodbye: Option<Chunk>,
    code: CloseCode,
) {
    if let (Some(mut send), Some(goodbye)) = (send, goodbye) {
        let _ = tokio::time::timeout(LINGER, async {
            if send.write_all(&goodbye.bytes).await.is_ok() && send.finish().is_ok() {
                let _ = send.stopped().await;
            }
        })
        .await;
    }
    session.close(u32::from(code as u16), code.name().as_bytes());
}

/// Runs a session accepted on `transport` (`webtransport` or `quic`)
/// until either side closes it.
pub async fn run(
    session: Session,
    transport: &'static str,
    query: Option<String>,
    session_id: String,
    state: Arc<AppState>,
) {
    let peer = session.remote_address();
    span::record_peer(peer);
    let format = initial_format(query.as_deref());
    let Some(permit) = state.admit(
        transport,
        &axum::http::HeaderMap::new(),
        Some(PeerAddr(peer)),
    ) else {
        tracing::info!("refused: connection limit");
        refuse(&session, format, CloseCode::ConnectionLimit).await;
        return;
    };
    let opened = tokio::select! {
        s = tokio::time::timeout(OPEN_TIMEOUT, session.accept_bi()) => s,
        () = state.shutdown.cancelled() => {
            session.close(u32::from(CloseCode::Shutdown as u16), b"shutdown");
            return;
        }
    };
    let (send, recv) = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "gone before opening a stream");
            state.hub.metrics().disconnect("client_closed");
            return;
        }
        Err(_) => {
            tracing::debug!("no stream opened in time");
            state
                .hub
                .metrics()
                .disconnect(CloseCode::HeartbeatTimeout.name());
            let code = CloseCode::HeartbeatTimeout;
            session.close(u32::from(code as u16), code.name().as_bytes());
            return;
        }
    };
    // A JWT is base64url and dots: nothing in it needs percent-decoding.
    let token = param(query.as_deref(), "token");
    if let Some(t) = token {
        Box::pin(state.config.auth.settle(t)).await;
    }
    match crate::auth::Access::start(&state.config.auth, token) {
        Ok(access) => {
            drive(
                &session,
                (send, recv),
                transport,
                format,
                session_id,
                Box::new(access),
                &state,
            )
            .await;
        }
        Err(e) => {
            let metrics = state.hub.metrics();
            metrics.auth_refusal(e.code());
            metrics.client_error(ErrorCode::Unauthorized.name());
            let code = crate::auth::gate::close_code(&e);
            metrics.disconnect(code.name());
            let error = ServerFrame::error(ErrorCode::Unauthorized, e.to_string(), None);
            let mut first = NativeWire::Stream.frame(&error, format).bytes.to_vec();
            first.extend_from_slice(
                &NativeWire::Stream
                    .frame(&ServerFrame::disconnect(code), format)
                    .bytes,
            );
            close(&session, Some(send), Some(Chunk::plain(first.into())), code).await;
            drop(recv);
        }
    }
    drop(permit);
}

/// Refuses a session the gateway has no room for: the `disconnect` frame
/// on the client's stream (if it opens one in time), then the close.
async fn refuse(session: &Session, format: Format, code: CloseCode) {
    let send = tokio::time::timeout(LINGER, session.accept_bi())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|(s, _)| s);
    let goodbye = NativeWire::Stream.frame(&ServerFrame::disconnect(code), format);
    close(session, send, Some(goodbye), code).await;
}

/// The session loop on its stream.
async fn drive(
    session: &Session,
    (send, mut recv): (SendStream, RecvStream),
    transport: &'static str,
    format: Format,
    session_id: String,
    access: Box<crate::auth::Access>,
    state: &Arc<AppState>,
) {
    let hub = state.hub.clone();
    let link = Link::new(
        Arc::from(session_id.as_str()),
        NativeWire::Stream.framing(format),
        None,
        state.link_limits(),
        hub.metrics().clone(),
    );
    link.set_transport(crate::metrics::transport_idx(transport));
    let conn_id = hub.register(access.user().map(str::to_owned), link.clone());
    let mut timer = arm(&access);
    let mut conn = Conn::new(state, &link, conn_id, access, NativeWire::Stream, format);
    let quic = state.config.quic.as_ref();
    let heartbeat = quic.map_or(state.config.heartbeat_interval, |q| {
        super::keep_alive(q.idle_timeout, state.config.heartbeat_interval)
    });
    tracing::debug!("connected");
    let _ = conn.welcome(session_id, heartbeat.as_millis() as u64);

    let mut decoder = Decoder::new(state.config.limits.max_frame_bytes);
    let mut idle: Option<SendStream> = Some(send);
    let mut writing: Option<Writing> = None;
    let mut inbox = VecDeque::new();
    let mut written = Vec::new();
    let mut taken = Vec::new();
    let stopping = state.shutdown.cancelled();
    tokio::pin!(stopping);

    let end: End = loop {
        if writing.is_none() && link.has_queued() {
            if let Some(send) = idle.take() {
                link.take_queued(&mut taken);
                writing = Some(write(send, std::mem::take(&mut taken)));
            }
        }
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
            (send, result) = async { writing.as_mut().expect("guarded").await }, if writing.is_some() => {
                writing = None;
                idle = Some(send);
                result.err().map(|e| {
                    tracing::debug!(error = %e, "stream write failed");
                    End::Gone("client_closed")
                })
            }
            chunk = recv.read_chunk(READ_CHUNK, true) => match chunk {
                Ok(Some(chunk)) => {
                    decoder.push(&chunk.bytes);
                    Box::pin(on_bytes(&mut conn, &mut decoder)).await.err()
                }
                Ok(None) => Some(End::Gone("client_closed")),
                Err(e) => {
                    tracing::debug!(error = %e, "stream read failed");
                    Some(End::Gone("client_closed"))
                }
            },
            extra = session.accept_bi() => {
                match extra {
                    // One session per connection: other streams are refused.
                    Ok((mut s, mut r)) => {
                        let code = u32::from(CloseCode::ProtocolViolation as u16);
                        let _ = s.reset(code);
                        let _ = r.stop(code);
                        None
                    }
                    Err(_) => Some(End::Gone("client_closed")),
                }
            }
            code = until(&mut timer) => {
                tracing::debug!(code = code.name(), "auth deadline");
                Some(End::Close(code))
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
            let send = match (idle, writing) {
                (Some(s), _) => Some(s),
                (None, Some(w)) => tokio::time::timeout(LINGER, w).await.ok().map(|(s, _)| s),
                (None, None) => None,
            };
            close(session, send, Some(conn.goodbye(code)), code).await;
        }
        End::Gone(reason) => tracing::debug!(reason, "gone"),
    }
    link.take_written(&mut written);
    accounting::written(hub.metrics(), link.transport(), &written);
}

/// Applies every whole frame the decoder holds.
async fn on_bytes(conn: &mut Conn<'_>, decoder: &mut Decoder) -> Result<(), End> {
    loop {
        match decoder.next_frame() {
            Ok(Some((kind, payload))) => {
                conn.take_budget()?;
                conn.on_frame(payload, kind.format()).await?;
            }
            Ok(None) => return Ok(()),
            Err(StreamError::TooLarge { len, max }) => {
                tracing::debug!(len, max, "frame too large");
                return Err(End::Close(CloseCode::FrameTooLarge));
            }
            Err(StreamError::UnknownKind(k)) => {
                tracing::debug!(kind = k, "unknown frame kind");
                return Err(End::Close(CloseCode::ProtocolViolation));
            }
        }
    }
}
