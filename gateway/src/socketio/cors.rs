//! CORS for the long-polling transport, so a page served from another
//! origin can point `io("https://herald.example")` at the gateway and still
//! start with polling, as `socket.io-client` does by default. The list is
//! the one origin policy ([`crate::http::origin`]), which WebSocket
//! upgrades obey too.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::SioState;
use crate::http::origin::allowed;

/// Answers preflights and adds the CORS headers to every response of an
/// allowed origin. `*` answers `Access-Control-Allow-Origin: *` (no
/// credentials); an exact match reflects the origin and allows credentials.
pub async fn layer(State(state): State<Arc<SioState>>, req: Request, next: Next) -> Response {
    let origins = &state.app.config.socketio.cors_origins;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    let Some(rule) = allowed(origins, &origin) else {
        return if req.method() == Method::OPTIONS {
            (StatusCode::FORBIDDEN, "origin not allowed").into_response()
        } else {
            next.run(req).await
        };
    };
    let request_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    if rule == "*" {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if let Ok(v) = HeaderValue::from_str(&origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(asked) = request_headers {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    resp
}
