//! The admin listener: metrics, health, readiness, and the API.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::auth::Scope;
use crate::metrics::names;
use crate::server::AppState;

/// The admin listener's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .nest("/api", super::api::router(state.clone()))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>, req: Request) -> Response {
    if state.config.metrics_require_key
        && let Err(refused) = super::api::check_key(&state, &req, Scope::Read)
    {
        return *refused;
    }
    let health = state.hub.bus().health();
    if state.config.metrics_enabled {
        metrics::gauge!(names::BUS_UP).set(if health.ready { 1.0 } else { 0.0 });
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics_render.render(),
    )
        .into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let health = state.hub.bus().health();
    let draining = state.shutdown.is_cancelled();
    let ready = health.ready && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "draining": draining,
        "bus": { "ready": health.ready, "detail": health.detail },
        "connections": state.admission.live(),
        "node": state.config.node_id,
    });
    (status, axum::Json(body))
}
