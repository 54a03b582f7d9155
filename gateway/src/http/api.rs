//! `/api/*` on the admin listener: publish, batch publish, disconnect,
//! emit with acks (`super::emit`), room info, room presence
//! (`super::presence`), nodes.
//!
//! When API keys are configured every call must carry
//! `Authorization: Bearer <key>` of a key with the route's scope:
//! `publish` (publish, batch), `emit`, `disconnect`, `read` (rooms, presence, nodes). Bodies are JSON; a bad body gets a 400
//! with `{"error": "..."}` naming the problem.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_protocol::bus::{Control, ControlTarget, Publication};
use herald_protocol::{JsonText, RoomName};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::auth::{ApiKeyError, Scope};
use crate::server::AppState;

/// Largest API request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most messages in one batch.
pub const MAX_BATCH: usize = 1000;

/// The API routes, behind the key check.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/publish", post(publish))
        .route("/publish/batch", post(publish_batch))
        .route("/disconnect", post(disconnect))
        .route("/emit", post(super::emit::emit))
        .route("/rooms/{room}", get(room_info))
        .route(
            "/rooms/{room}/presence",
            get(super::presence::room_presence),
        )
        .route("/nodes", get(nodes))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state, require_key))
}

/// The scope a route of this router needs (paths as the nested router
/// sees them, without `/api`).
fn scope_of(path: &str) -> Scope {
    match path {
        "/publish" | "/publish/batch" => Scope::Publish,
        "/emit" => Scope::Emit,
        "/disconnect" => Scope::Disconnect,
        _ => Scope::Read,
    }
}

async fn require_key(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let scope = scope_of(req.uri().path());
    match check_key(&state, &req, scope) {
        Ok(()) => next.run(req).await,
        Err(resp) => *resp,
    }
}

/// Checks the request's `Authorization: Bearer` key for `scope`; with no
/// key configured everything passes (the admin listener is then on
/// loopback, which the configuration enforces).
///
/// # Errors
/// The 401 (no or unknown key) or 403 (a key without the scope) answer.
pub(super) fn check_key(
    state: &AppState,
    req: &Request,
    scope: Scope,
) -> Result<(), Box<Response>> {
    let keys = &state.config.api_keys;
    if keys.is_empty() {
        return Ok(());
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    keys.check(given, scope).map_err(|e| {
        let message = match e {
            ApiKeyError::Unauthorized => {
                "missing or invalid API key: send Authorization: Bearer <key>".to_owned()
            }
            ApiKeyError::Forbidden(s) => format!("this API key lacks the {s} scope"),
        };
        Box::new(
            (
                e.status(),
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "error": message })),
            )
                .into_response(),
        )
    })
}

/// Parses a JSON body, naming the problem on failure.
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::bad_request(format!("invalid request: {e}")),
        _ => ApiError::bad_request(format!("the request body is not valid JSON: {e}")),
    })
}

/// One publication in a request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// The room.
    room: String,
    /// The event name.
    event: String,
    /// The payload.
    #[serde(default)]
    data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    /// The publications.
    messages: Vec<PublishBody>,
}

fn to_publication(b: PublishBody) -> Result<Publication, String> {
    RoomName::new(&b.room).map_err(|e| format!("invalid room {:?}: {e}", b.room))?;
    if b.event.is_empty() || b.event.len() > 200 {
        return Err("event must be 1 to 200 bytes".into());
    }
    Ok(Publication {
        room: b.room,
        event: b.event,
        data: JsonText::from_value(&b.data),
        ts_ms: herald_service::clock::unix_ms(),
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
        set: None,
    })
}

async fn publish(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let publication = to_publication(parse_body(&body)?).map_err(ApiError::bad_request)?;
    let metrics = state.hub.metrics();
    match state.hub.bus().publish(vec![publication]).await.pop() {
        Some(Ok(pos)) => {
            metrics.publishes_api.increment(1);
            Ok(Json(json!({ "epoch": pos.epoch, "offset": pos.offset })).into_response())
        }
        Some(Err(e)) => {
            metrics.publish_errors.increment(1);
            Err(ApiError::from_bus(&e))
        }
        None => Err(ApiError::unavailable("the bus returned no result")),
    }
}

async fn publish_batch(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let batch: BatchBody = parse_body(&body)?;
    if batch.messages.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "a batch holds at most {MAX_BATCH} messages, got {}",
            batch.messages.len()
        )));
    }
    // Validate everything first: a batch with one bad item publishes nothing.
    let publications = batch
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            to_publication(m).map_err(|e| ApiError::bad_request(format!("messages[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = state.hub.metrics();
    let results: Vec<Value> = state
        .hub
        .bus()
        .publish(publications)
        .await
        .into_iter()
        .map(|r| match r {
            Ok(pos) => {
                metrics.publishes_api.increment(1);
                json!({ "epoch": pos.epoch, "offset": pos.offset })
            }
            Err(e) => {
                metrics.publish_errors.increment(1);
                json!({ "error": e.to_string() })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectBody {
    /// Disconnect every socket in this room.
    room: Option<String>,
    /// Disconnect every socket of this user.
    user: Option<String>,
    /// Disconnect this session.
    session: Option<String>,
    /// A reason for the logs.
    #[serde(default)]
    reason: String,
}

/// The one target a body names: a room, a user or a session.
pub(super) fn target_of(
    room: Option<String>,
    user: Option<String>,
    session: Option<String>,
) -> Result<ControlTarget, ApiError> {
    match (room, user, session) {
        (Some(r), None, None) => Ok(ControlTarget::Room(r)),
        (None, Some(u), None) => Ok(ControlTarget::User(u)),
        (None, None, Some(s)) => Ok(ControlTarget::Session(s)),
        _ => Err(ApiError::bad_request(
            "give exactly one of room, user or session",
        )),
    }
}

async fn disconnect(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let b: DisconnectBody = parse_body(&body)?;
    let target = target_of(b.room, b.user, b.session)?;
    state
        .hub
        .bus()
        .control(Control::Disconnect {
            target,
            reason: b.reason,
        })
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(json!({ "ok": true })).into_response())
}

async fn room_info(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
) -> Result<Response, ApiError> {
    let name =
        RoomName::new(&room).map_err(|e| ApiError::bad_request(format!("invalid room: {e}")))?;
    let history = state
        .hub
        .bus()
        .history(&name, None, 0)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let local = state.hub.room_count(&room) as u64;
    // Across the cluster when there is one; this node alone otherwise.
    let subscribers = match &state.redis {
        Some(redis) => redis
            .room_counts(std::slice::from_ref(&room))
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?
            .get(&room)
            .copied()
            .unwrap_or(0),
        None => local,
    };
    Ok(Json(json!({
        "room": room,
        "epoch": history.epoch.as_ref(),
        "offset": history.offset,
        "local_subscribers": local,
        "subscribers": subscribers,
    }))
    .into_response())
}

/// The live nodes of the cluster (from their heartbeats), or this node alone.
async fn nodes(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let nodes = match &state.redis {
        Some(redis) => redis
            .nodes()
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?
            .into_iter()
            .map(|n| {
                json!({
                    "node": n.node,
                    "ts_ms": n.ts_ms,
                    "connections": n.connections,
                    "rooms": n.rooms,
                })
            })
            .collect(),
        None => vec![json!({
            "node": state.config.node_id,
            "ts_ms": herald_service::clock::unix_ms(),
            "connections": state.admission.live(),
            "rooms": serde_json::Value::Null,
        })],
    };
    Ok(Json(json!({ "nodes": nodes })).into_response())
}
