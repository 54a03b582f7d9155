//! `GET /sse`: checks the request, joins its rooms, and answers with the
//! stream. Every refusal comes before the stream starts, as a JSON error
//! naming the native code ([`super::error`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_bus::BusError;
use herald_protocol::native::ErrorCode;
use herald_protocol::sse::{Entry, epoch_check};
use herald_protocol::{Position, RoomName};
use tracing::Instrument;

use super::error::SseError;
use super::events::Stream;
use super::session::{self, Registered};
use super::{body, query};
use crate::auth::{Access, Denied, gate};
use crate::http::origin;
use crate::hub::Hub;
use crate::hub::subscriptions::Subscriptions;
use crate::native::backend;
use crate::proxy::handshake::{Handshake, PeerAddr};
use crate::server::AppState;
use crate::transport::frames::Framing;
use crate::transport::link::Link;
use crate::transport::span;

/// The `transport` label of SSE connections.
pub const TRANSPORT: &str = "sse";

/// `GET /sse?room=…`.
pub async fn handler(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let session = state.new_session_id();
    let span = span::connection(&session, TRANSPORT);
    match open(state, req, session).instrument(span).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// What the client's position in a room means now: recover from it when
/// its check matches the room's current epoch, else nothing (a reset).
async fn resolve(
    hub: &Hub,
    room: &RoomName,
    entry: Option<Entry>,
) -> Result<Option<Position>, BusError> {
    let Some(entry) = entry else {
        return Ok(None);
    };
    let now = hub.history(room, None, 0, 0).await?;
    Ok(
        (epoch_check(room, &now.epoch) == entry.check).then(|| Position {
            epoch: now.epoch.to_string(),
            offset: entry.offset,
        }),
    )
}

fn unavailable(e: &impl std::fmt::Display) -> SseError {
    SseError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::BusUnavailable,
        e.to_string(),
    )
}

fn denied(state: &AppState, d: &Denied) -> SseError {
    let metrics = state.hub.metrics();
    let (status, code) = match d {
        Denied::Room(_) => (StatusCode::FORBIDDEN, ErrorCode::PermissionDenied),
        Denied::NotAuthenticated => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
        Denied::Token(e) => {
            metrics.auth_refusal(e.code());
            (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized)
        }
    };
    let message = match d {
        Denied::NotAuthenticated => "this gateway needs a token: add ?token=".to_owned(),
        other => other.to_string(),
    };
    SseError::new(status, code, message)
}

async fn open(state: Arc<AppState>, req: Request, session: String) -> Result<Response, SseError> {
    let headers = req.headers();
    let peer = req.extensions().get::<PeerAddr>().copied();
    let req_abort = req
        .extensions()
        .get::<crate::http::serve::ConnAbort>()
        .map(|a| a.0.clone());
    if let Some(p) = peer {
        span::record_peer(p.0);
    }
    if !origin::upgrade_allowed(&state.config.socketio.cors_origins, headers) {
        return Err(SseError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::PermissionDenied,
            "origin not allowed",
        ));
    }
    // A cross-origin EventSource needs the allowed origin echoed.
    let cors = headers.get(header::ORIGIN).cloned();
    let metrics = state.hub.metrics().clone();
    let limits = &state.config.limits;
    let max_rooms = limits
        .max_rooms_per_connection
        .min(herald_protocol::sse::MAX_ENTRIES);
    let query::Request {
        rooms,
        positions,
        token,
    } = query::parse(req.uri(), headers, max_rooms)
        .inspect_err(|e| metrics.client_error(e.name))?;
    let permit = state
        .admit(TRANSPORT, headers, peer)
        .ok_or_else(SseError::connection_limit)?;
    let gate = &state.config.auth;
    if let Some(t) = token.as_deref() {
        Box::pin(gate.settle(t)).await;
    }
    let mut access = Access::start(gate, token.as_deref()).map_err(|e| {
        metrics.auth_refusal(e.code());
        metrics.client_error(ErrorCode::Unauthorized.name());
        SseError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            e.to_string(),
        )
        .with_close(gate::close_code(&e))
    })?;
    let proxy = &state.config.proxy;
    if proxy.connect_url.is_some() {
        let h = Handshake::capture(&proxy.headers, headers, peer);
        match Box::pin(backend::ask(&state, &session, &mut access, &h)).await {
            Ok(backend::Admit::Yes) => {}
            Ok(backend::Admit::No(message)) => {
                metrics.client_error(ErrorCode::Unauthorized.name());
                return Err(SseError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Unauthorized,
                    message,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "connect proxy failed; stream refused");
                metrics.client_error(e.error_code().name());
                return Err(SseError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.error_code(),
                    e.to_string(),
                ));
            }
        }
    }
    for room in &rooms {
        access
            .check_subscribe(gate, room, None)
            .map_err(|d| denied(&state, &d))
            .inspect_err(|e| metrics.client_error(e.name))?;
    }

    let hub = state.hub.clone();
    let link = Link::new(
        Arc::from(session.as_str()),
        Framing::Sse,
        None,
        state.link_limits(),
        metrics.clone(),
    );
    link.set_sse_positions(positions.clone());
    let conn = hub.register(access.user().map(str::to_owned), link.clone());
    let registered = Registered {
        hub: hub.clone(),
        conn,
    };
    let mut subs = Subscriptions::new(
        hub.clone(),
        conn,
        link.clone(),
        max_rooms,
        state.config.snapshot_depth,
    );
    let mut emits = Vec::new();
    for (i, (room, entry)) in rooms.iter().zip(&positions).enumerate() {
        let since = resolve(&hub, room, *entry)
            .await
            .map_err(|e| unavailable(&e))?;
        Box::pin(subs.subscribe(room.clone(), since, Some(i as u64), &mut emits))
            .await
            .map_err(|e| {
                metrics.client_error(e.code().name());
                SseError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
            })?;
    }
    let mut stream = Stream::new(&rooms, positions.iter().map(Option::is_some).collect());
    let items = stream.items(&mut emits);
    // A fresh link with room for the snapshots it was sized for; a
    // failure here is a slow consumer already, and the stream says so.
    let _ = link.write_sse(items);
    subs.settle();
    tracing::debug!(rooms = rooms.len(), "sse stream open");

    let start = session::Start {
        abort: req_abort,
        link: link.clone(),
        subs,
        stream,
        access: Box::new(access),
        registered,
        permit,
    };
    state
        .tracker
        .spawn(session::run(state.clone(), start).instrument(tracing::Span::current()));
    let mut resp = Response::new(body::body(link));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Nginx and others buffer responses unless told not to.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Some(o) = cors {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(resp)
}
