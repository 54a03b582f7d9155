//! The JSON error an SSE request gets instead of a stream:
//! `{"code": N, "error": "<name>", "message": "…"}`, with the native
//! error code (or close code) that names the problem.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_protocol::native::{CloseCode, ErrorCode};
use serde_json::json;

/// A refused SSE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The native code's number.
    pub code: u16,
    /// The native code's name.
    pub name: &'static str,
    /// The close code a WebSocket would have been closed with (a refused
    /// token: 4007 or 4008), if any.
    pub close: Option<CloseCode>,
    /// What is wrong.
    pub message: String,
}

impl SseError {
    /// An error answered with a native error code.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code as u16,
            name: code.name(),
            close: None,
            message: message.into(),
        }
    }

    /// A 400 with `code`.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The gateway (or the client's address) is full: 503 with 4004.
    pub fn connection_limit() -> Self {
        let code = CloseCode::ConnectionLimit;
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: code as u16,
            name: code.name(),
            close: Some(code),
            message: "this gateway holds as many connections as it may; retry later".into(),
        }
    }

    /// Sets the close code a WebSocket would have got.
    pub fn with_close(mut self, close: CloseCode) -> Self {
        self.close = Some(close);
        self
    }
}

impl IntoResponse for SseError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "error": self.name, "message": self.message });
        if let Some(close) = self.close {
            body["close"] = json!(close as u16);
            body["reconnect"] = json!(close.reconnect());
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
