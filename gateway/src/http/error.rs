//! JSON error responses: `{"error": "..."}` with a 4xx or 5xx status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error: a status and a message that names the problem.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// The status and message for a publication the bus did not store:
    /// 400 invalid, 409 refused on its merits (a stale fence, a limit), 503
    /// the bus is unreachable.
    pub fn from_bus(e: &herald_bus::BusError) -> Self {
        use herald_bus::BusError;
        let status = match e {
            BusError::Invalid(_) => StatusCode::BAD_REQUEST,
            BusError::Rejected(_) => StatusCode::CONFLICT,
            BusError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self {
            status,
            message: e.to_string(),
        }
    }

    /// A 503 Service Unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
