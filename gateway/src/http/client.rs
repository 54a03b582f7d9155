//! The client listener: the dashboard page, the browser client, `/ws`,
//! `/sse`.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::server::AppState;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const DASHBOARD_JS: &str = include_str!("../../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard.css");
const HERALD_JS: &str = include_str!("../../assets/herald.js");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// `GET /wt/certificate-hash`: the self-signed QUIC certificate's SHA-256
/// for `serverCertificateHashes`, and where WebTransport listens; 404
/// when the QUIC listener presents a configured certificate (or is off).
async fn certificate_hash(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    match (state.quic_cert.as_ref(), state.quic_addr.get()) {
        (Some(cert), Some(addr)) => {
            let mut body = cert.hash().json();
            body["port"] = serde_json::json!(addr.port());
            ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
        }
        _ => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The client listener's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/herald.js",
            get(|| async { asset("text/javascript; charset=utf-8", HERALD_JS) }),
        )
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route("/ws", get(crate::native::upgrade::handler))
        .route("/wt/certificate-hash", get(certificate_hash))
        .route("/sse", get(crate::sse::route::handler))
        .route_service(
            &state.config.socketio.path,
            crate::socketio::router(state.clone()),
        )
        .with_state(state)
}
