//! `POST /api/emit`: sends an event with an ack callback to a room's, a
//! user's or a session's Socket.IO sockets, across the cluster, and answers
//! with their acknowledgements once all arrived or the timeout passed
//! (Socket.IO's `io.to(room).timeout(ms).emit(event, data, callback)`).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use herald_protocol::RoomName;
use herald_protocol::bus::{AskAnswer, ControlTarget};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::api::{parse_body, target_of};
use super::error::ApiError;
use crate::server::AppState;
use herald_bus::Sink;
use herald_bus::redis::ask::MAX_TIMEOUT;

/// The ack timeout when the body names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitBody {
    /// Ask every socket in this room.
    room: Option<String>,
    /// Ask every socket of this user.
    user: Option<String>,
    /// Ask this session.
    session: Option<String>,
    /// The event name.
    event: String,
    /// The event's argument.
    #[serde(default)]
    data: Value,
    /// How long to wait for acks, milliseconds.
    timeout_ms: Option<u64>,
}

/// The handler.
pub async fn emit(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let b: EmitBody = parse_body(&body)?;
    let target = target_of(b.room, b.user, b.session)?;
    if let ControlTarget::Room(r) = &target {
        RoomName::new(r).map_err(|e| ApiError::bad_request(format!("invalid room {r:?}: {e}")))?;
    }
    if b.event.is_empty() || b.event.len() > 200 {
        return Err(ApiError::bad_request("event must be 1 to 200 bytes"));
    }
    let timeout_ms = b.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    let timeout = Duration::from_millis(timeout_ms);
    if timeout_ms == 0 || timeout > MAX_TIMEOUT {
        return Err(ApiError::bad_request(format!(
            "timeout_ms must be 1 to {}",
            MAX_TIMEOUT.as_millis()
        )));
    }
    let (nodes, nodes_answered, sent, answers) = match &state.redis {
        Some(redis) => {
            let r = redis
                .ask(target, b.event, b.data, timeout)
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            (r.nodes, r.nodes_answered, r.sent, r.answers)
        }
        None => {
            let pending = Sink::ask(
                state.hub.as_ref(),
                &target,
                b.event,
                b.data,
                Instant::now() + timeout,
            );
            let sent = pending.sent as u64;
            (1, 1, sent, pending.collect().await)
        }
    };
    Ok(Json(summary(nodes, nodes_answered, sent, answers)).into_response())
}

/// The response body: acks, refusals and the count of sockets that did not
/// answer in time.
fn summary(nodes: usize, nodes_answered: usize, sent: u64, answers: Vec<AskAnswer>) -> Value {
    let (acked, refused): (Vec<_>, Vec<_>) = answers.into_iter().partition(|a| a.args.is_some());
    let answered = (acked.len() + refused.len()) as u64;
    json!({
        "sent": sent,
        "acked": acked.len(),
        "timed_out": sent.saturating_sub(answered),
        "nodes": nodes,
        "nodes_answered": nodes_answered,
        "responses": acked
            .into_iter()
            .map(|a| json!({ "sid": a.sid, "nsp": a.nsp, "args": a.args }))
            .collect::<Vec<_>>(),
        "errors": refused
            .into_iter()
            .map(|a| json!({ "sid": a.sid, "error": a.error }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(sid: &str, ok: bool) -> AskAnswer {
        AskAnswer {
            sid: sid.into(),
            nsp: ok.then(|| "/".into()),
            args: ok.then(|| vec![json!(sid)]),
            error: (!ok).then(|| "no acks".into()),
        }
    }

    #[test]
    fn summary_splits_acks_refusals_and_silence() {
        let v = summary(
            2,
            2,
            4,
            vec![answer("a", true), answer("b", false), answer("c", true)],
        );
        assert_eq!(v["sent"], 4);
        assert_eq!(v["acked"], 2);
        assert_eq!(v["timed_out"], 1);
        assert_eq!(
            v["responses"][1],
            json!({ "sid": "c", "nsp": "/", "args": ["c"] })
        );
        assert_eq!(v["errors"][0], json!({ "sid": "b", "error": "no acks" }));
    }
}
