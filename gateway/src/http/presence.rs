//! `GET /api/rooms/{room}/presence` (scope `read`): the users in a room
//! across the cluster, each listed once with its session count, bounded by
//! `?limit=` ([`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]), with the total
//! beyond the bound and the anonymous sessions counted apart.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use herald_protocol::RoomName;
use herald_protocol::bus::presence::{MAX_PRESENCE_USERS, merge_users};
use serde_json::json;

use super::error::ApiError;
use crate::server::AppState;

/// Users listed when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = MAX_PRESENCE_USERS;

/// The `limit` of a query string (`limit=N`, 1 to [`MAX_LIMIT`]).
fn limit_of(query: Option<&str>) -> Result<usize, ApiError> {
    let Some(query) = query else {
        return Ok(DEFAULT_LIMIT);
    };
    let mut limit = DEFAULT_LIMIT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "limit" {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {key:?}; only limit is accepted"
            )));
        }
        limit = value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be a number from 1 to {MAX_LIMIT}"))
            })?;
    }
    Ok(limit)
}

/// The handler.
pub async fn room_presence(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    RoomName::new(&room).map_err(|e| ApiError::bad_request(format!("invalid room: {e}")))?;
    let limit = limit_of(query.as_deref())?;
    let (users, sessions, nodes, answered) = match &state.redis {
        Some(redis) => {
            let p = redis
                .room_users(&room, limit)
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            (p.users, p.sessions, p.nodes, p.answered)
        }
        None => {
            let local = state.hub.room_users(&room, limit);
            let sessions = state.hub.room_count(&room) as u64;
            (merge_users([local], limit), sessions, 1, 1)
        }
    };
    let truncated = (users.users.len() as u64) < users.total;
    Ok(Json(json!({
        "room": room,
        "users": users.users.iter().map(|u| json!({"user": u.user, "sessions": u.sessions})).collect::<Vec<_>>(),
        "limit": limit,
        "truncated": truncated,
        "total_users": users.total,
        "total_exact": users.exact,
        "anonymous_sessions": users.anonymous,
        "sessions": sessions,
        "nodes": nodes,
        "nodes_answered": answered,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_defaults_and_is_bounded() {
        assert_eq!(limit_of(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit_of(Some("")).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit_of(Some("limit=7")).ok(), Some(7));
        assert_eq!(limit_of(Some("limit=1000")).ok(), Some(1000));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=x",
            "limit=",
            "page=2",
        ] {
            assert!(limit_of(Some(bad)).is_err(), "{bad}");
        }
    }
}
