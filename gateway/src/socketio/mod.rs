//! The Socket.IO transport at `/socket.io/` (Engine.IO v4, Socket.IO v5):
//! today's `socket.io-client` code connects to Herald unchanged.
//! See `docs/socketio.md`.
//!
//! - [`cors`]: CORS headers and preflights for pages on other origins.
//! - [`http`]: the HTTP entry: handshakes, polling requests, WebSocket
//!   upgrades (direct, and from a polling session), error replies.
//! - [`polling`]: a long-polling session's shared queues and its registry.
//! - [`session`]: one Engine.IO session's task: transports, heartbeats,
//!   the outbox, close reasons.
//! - [`socket`]: the Socket.IO layer of a session: namespaces, events,
//!   acks, subscribe/unsubscribe/publish, encoding room messages; and
//!   (`socket::backend`) CONNECTs and unhandled events asked of the
//!   application backend, their replies applied in arrival order.
//! - [`recovery`]: connection state recovery: offsets and the per-`pid`
//!   record of a disconnected socket's rooms.

pub mod cors;
pub mod http;
pub mod polling;
pub mod recovery;
pub mod session;
pub mod socket;

use std::sync::Arc;

use axum::Router;

use crate::server::AppState;

/// What the Socket.IO transport shares across sessions.
pub struct SioState {
    /// The gateway's shared state.
    pub app: Arc<AppState>,
    /// Live long-polling sessions by Engine.IO `sid`.
    pub polling: polling::Registry,
    /// Sessions that upgraded from polling to WebSocket, by `sid`, while
    /// they live: a later WebSocket with the same `sid` is accepted and
    /// closed at once, as the reference server does.
    pub upgraded: polling::Registry,
    /// Disconnected sockets' rooms, kept for connection state recovery.
    pub recovery: recovery::Store,
}

/// The `/socket.io/` routes, to mount on the client listener:
/// `.route_service("/socket.io/", socketio::router(state.clone()))`.
pub fn router(app: Arc<AppState>) -> Router {
    let cfg = &app.config.socketio;
    let state = Arc::new(SioState {
        recovery: recovery::Store::new(
            cfg.recovery_window,
            app.config.limits.max_connections,
            app.redis.clone().map(|r| r as Arc<dyn recovery::Shared>),
            app.tracker.clone(),
        )
        .with_heartbeat(cfg.ping_interval + cfg.ping_timeout),
        polling: polling::Registry::default(),
        upgraded: polling::Registry::default(),
        app,
    });
    Router::new()
        .fallback(http::handler)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::layer,
        ))
        .with_state(state)
}

/// A random URL-safe id (Engine.IO `sid`, socket ids, `pid`s): 16 random
/// bytes, so ids cannot be guessed to hijack a polling session.
pub fn random_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}
