//! The HTTP upgrade to a native WebSocket session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_protocol::native::{CloseCode, ErrorCode, Format};
use herald_protocol::ws::handshake::accept_key;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{backend, session};
use crate::auth::Access;
use crate::http::origin;
use crate::proxy::handshake::{Handshake, PeerAddr};
use crate::server::AppState;
use crate::transport::socket::Socket;
use crate::transport::span;

/// Checks the upgrade request (method, origin policy, headers) and returns
/// the `Sec-WebSocket-Accept` value.
///
/// # Errors
/// A 4xx response naming what is wrong with the request.
pub fn check_upgrade(
    method: &Method,
    headers: &HeaderMap,
    origins: &[String],
) -> Result<String, Box<Response>> {
    let bad = |msg: &str| Box::new((StatusCode::BAD_REQUEST, msg.to_owned()).into_response());
    if method != Method::GET {
        return Err(bad("WebSocket upgrade needs GET"));
    }
    if !origin::upgrade_allowed(origins, headers) {
        return Err(Box::new(
            (StatusCode::FORBIDDEN, "origin not allowed").into_response(),
        ));
    }
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err(Box::new(
            (
                StatusCode::UPGRADE_REQUIRED,
                [(header::UPGRADE, "websocket")],
                "this endpoint speaks WebSocket only",
            )
                .into_response(),
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(bad("Sec-WebSocket-Version must be 13"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| bad("missing Sec-WebSocket-Key"))?;
    Ok(accept_key(key.as_bytes()))
}

/// The 101 response.
pub fn switching_protocols(accept: &str) -> Response {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_default()
}

/// Takes the upgraded connection back from hyper as a [`Socket`] and the
/// bytes hyper read past the request, so no HTTP buffers stay alive for
/// the life of the WebSocket. A plain connection is its raw TCP stream; a
/// TLS one is relayed (`crate::tls::relay`, the relay task on `tracker`).
pub async fn into_socket(
    on_upgrade: hyper::upgrade::OnUpgrade,
    tracker: &TaskTracker,
) -> Option<(Socket, Vec<u8>)> {
    let upgraded = on_upgrade.await.ok()?;
    let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            return Some((Socket::Tcp(parts.io.into_inner()), parts.read_buf.to_vec()));
        }
        Err(other) => other,
    };
    match upgraded.downcast::<TokioIo<crate::tls::ServerStream>>() {
        Ok(parts) => {
            let leftover = parts.read_buf.to_vec();
            match crate::tls::relay::plaintext_socket(parts.io.into_inner(), tracker) {
                Ok(sock) => Some((sock, leftover)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot relay a TLS connection");
                    None
                }
            }
        }
        Err(_) => {
            tracing::error!("upgraded connection is neither TCP nor TLS over TCP");
            None
        }
    }
}

/// `GET /ws`: upgrade, admit (or refuse with 4004), and run the session.
pub async fn handler(State(state): State<Arc<AppState>>, mut req: Request) -> Response {
    let origins = &state.config.socketio.cors_origins;
    let accept = match check_upgrade(req.method(), req.headers(), origins) {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    let query = req.uri().query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let format = match param("format") {
        Some("msgpack") => Format::MsgPack,
        _ => Format::Json,
    };
    // A JWT is base64url and dots: nothing in it needs percent-decoding.
    let token = param("token").map(str::to_owned);
    let proxy = &state.config.proxy;
    let handshake = proxy.connect_url.as_ref().map(|_| {
        Box::new(Handshake::capture(
            &proxy.headers,
            req.headers(),
            req.extensions().get::<PeerAddr>().copied(),
        ))
    });
    let on_upgrade = hyper::upgrade::on(&mut req);
    let permit = state.admit(
        "ws",
        req.headers(),
        req.extensions().get::<PeerAddr>().copied(),
    );
    let st = state.clone();
    // The task lives as long as the connection, and its future is most of
    // an idle connection's memory: the handshake and the refusal, which run
    // briefly, are boxed rather than sized into it.
    let session = state.new_session_id();
    let span = span::connection(&session, "ws");
    let task = async move {
        let Some((sock, leftover)) = Box::pin(into_socket(on_upgrade, &st.tracker)).await else {
            return;
        };
        if let (Some(t), Some(_)) = (token.as_deref(), permit.as_ref()) {
            Box::pin(st.config.auth.settle(t)).await;
        }
        match permit {
            Some(permit) => match Access::start(&st.config.auth, token.as_deref()) {
                Ok(mut access) => {
                    if let Some(h) = handshake {
                        let verdict = Box::pin(backend::ask(&st, &session, &mut access, &h)).await;
                        let refusal = match verdict {
                            Ok(backend::Admit::Yes) => None,
                            Ok(backend::Admit::No(message)) => {
                                Some((ErrorCode::Unauthorized, message))
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "connect proxy failed; connection refused");
                                Some((e.error_code(), e.to_string()))
                            }
                        };
                        if let Some((code, message)) = refusal {
                            Box::pin(session::refuse_backend(sock, st, code, message, format))
                                .await;
                            return;
                        }
                    }
                    let conn = session::Start {
                        format,
                        session,
                        access: Box::new(access),
                        _permit: permit,
                    };
                    session::run(sock, leftover, st, conn).await;
                }
                Err(e) => Box::pin(session::refuse_token(sock, st, &e, format)).await,
            },
            None => {
                Box::pin(session::refuse(
                    sock,
                    st,
                    CloseCode::ConnectionLimit,
                    format,
                ))
                .await
            }
        }
    };
    state.tracker.spawn(task.instrument(span));
    switching_protocols(&accept)
}
