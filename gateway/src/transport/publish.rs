//! A client's publish, the same for every protocol: refused unless the
//! gateway allows client publishes, then stored through the bus.

use herald_bus::BusError;
use herald_protocol::bus::Publication;
use herald_protocol::native::ErrorCode;
use herald_protocol::{JsonText, Position};
use serde_json::Value;

use crate::server::AppState;

/// Why a client's publish was refused: the code and message every
/// protocol reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The error code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

/// Publishes `data` as `event` to `room` for a client.
///
/// # Errors
/// [`Refused`] with `permission_denied` when clients may not publish, or
/// `bus_unavailable` when the bus did not store it. The caller answers the
/// client and counts the error.
pub async fn client_publish(
    state: &AppState,
    room: &str,
    event: String,
    data: Value,
) -> Result<Position, Refused> {
    let metrics = state.hub.metrics();
    if !state.config.allow_client_publish {
        return Err(Refused {
            code: ErrorCode::PermissionDenied,
            message: "client publishes are disabled on this gateway".into(),
        });
    }
    let publication = Publication {
        room: room.to_owned(),
        event,
        data: JsonText::from_value(&data),
        ts_ms: herald_service::clock::unix_ms(),
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
        set: None,
    };
    let result = state.hub.bus().publish(vec![publication]).await.pop();
    let refused = |code: ErrorCode, message: String| Err(Refused { code, message });
    match result {
        Some(Ok(pos)) => {
            metrics.publishes_client.increment(1);
            Ok(pos)
        }
        Some(Err(e @ BusError::Invalid(_))) => refused(ErrorCode::InvalidRoom, e.to_string()),
        Some(Err(e)) => {
            metrics.publish_errors.increment(1);
            refused(ErrorCode::BusUnavailable, e.to_string())
        }
        None => refused(ErrorCode::Internal, "the bus returned no result".into()),
    }
}
