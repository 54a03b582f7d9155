//! The gateway's metrics: names, and cheap handles for the hot path. The
//! recorder and `/metrics` rendering are `herald_service::metrics`.
//!
//! Handles are resolved once and kept in [`GatewayMetrics`]; the hot path
//! only does atomic adds. With metrics off, every handle is a no-op. Every
//! labelled series takes its label from a fixed list ([`TRANSPORTS`],
//! [`DISCONNECT_REASONS`], [`CLIENT_ERROR_CODES`]), and every series the
//! dashboards use is registered at 0 when the gateway starts, so a fresh
//! gateway shows 0 rather than "no data".

pub mod names;

use herald_protocol::native::{CloseCode, ErrorCode};
use metrics::{Counter, Gauge, Histogram};

/// Every `transport` label value.
pub const TRANSPORTS: [&str; 6] = [
    "ws",
    "socketio_ws",
    "socketio_polling",
    "webtransport",
    "quic",
    "sse",
];

/// A transport as its index in [`TRANSPORTS`]: what a link carries, so a
/// delivery is counted under its transport without a label lookup.
pub type TransportIdx = u8;

/// The index of `label` in [`TRANSPORTS`].
///
/// # Panics
/// On a label outside the list: labels are fixed values.
pub const fn transport_idx(label: &str) -> TransportIdx {
    let mut i = 0;
    while i < TRANSPORTS.len() {
        if const_eq(TRANSPORTS[i], label) {
            return i as TransportIdx;
        }
        i += 1;
    }
    panic!("not a transport label");
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Disconnect reasons that are not close codes.
pub const GONE_REASONS: &[&str] = &["client_closed", "error"];

/// Socket.IO-only client error codes (beside [`ErrorCode`]'s names).
pub const SOCKETIO_ERROR_CODES: &[&str] = &[
    "invalid_namespace",
    "too_many_namespaces",
    "poll_overlap",
    "payload_too_large",
];

/// Every `reason` label value of `herald_gateway_disconnects_total`.
pub fn disconnect_reasons() -> impl Iterator<Item = &'static str> {
    CloseCode::ALL
        .iter()
        .map(|c| c.name())
        .chain(GONE_REASONS.iter().copied())
}

/// Every `code` label value of `herald_gateway_client_errors_total`.
pub fn client_error_codes() -> impl Iterator<Item = &'static str> {
    ErrorCode::ALL
        .iter()
        .map(|c| c.name())
        .chain(SOCKETIO_ERROR_CODES.iter().copied())
}

/// The fixed reason lists, for docs and tests.
pub const DISCONNECT_REASONS: &str = "the close-code names, `client_closed`, `error`";
/// The fixed code lists, for docs and tests.
pub const CLIENT_ERROR_CODES: &str = "the error-code names, `invalid_namespace`, `too_many_namespaces`, `poll_overlap`, `payload_too_large`";

/// The gateway's metric handles.
pub struct GatewayMetrics {
    /// `herald_gateway_messages_delivered_total{transport}`, by
    /// [`TransportIdx`].
    pub delivered: [Counter; TRANSPORTS.len()],
    /// `herald_gateway_slow_consumer_disconnects_total`.
    pub slow_consumers: Counter,
    /// `herald_gateway_fanout_seconds`.
    pub fanout: Histogram,
    /// `herald_gateway_bus_lag_seconds`.
    pub bus_lag: Histogram,
    /// `herald_end_to_end_lag_seconds`.
    pub end_to_end: Histogram,
    /// `herald_gateway_rooms`.
    pub rooms: Gauge,
    /// `herald_gateway_subscriptions`.
    pub subscriptions: Gauge,
    /// `herald_gateway_bus_last_delivery_timestamp_seconds`.
    pub last_delivery: Gauge,
    /// `herald_gateway_publishes_total{source="api"}`.
    pub publishes_api: Counter,
    /// `herald_gateway_publishes_total{source="client"}`.
    pub publishes_client: Counter,
    /// `herald_gateway_publish_errors_total`.
    pub publish_errors: Counter,
    /// Whether metrics are recorded at all.
    pub enabled: bool,
}

/// The `outcome` label of `herald_gateway_presence_events_total`.
pub const PRESENCE_OUTCOMES: [&str; 2] = ["delivered", "dropped"];

/// The `transport` label values of the QUIC listener's sessions.
pub const QUIC_TRANSPORTS: [&str; 2] = ["webtransport", "quic"];

/// The `stage` label of `herald_gateway_quic_handshake_failures_total`.
pub const QUIC_FAILURE_STAGES: [&str; 2] = ["handshake", "session"];

/// The `kind` label of the application-backend metrics.
pub const BACKEND_KINDS: [&str; 2] = ["connect", "event"];

impl GatewayMetrics {
    /// Counts `n` deliveries written on transport `t`.
    pub fn count_delivered(&self, t: TransportIdx, n: u64) {
        if let Some(c) = self.delivered.get(usize::from(t)) {
            c.increment(n);
        }
    }

    /// Handles registered with the installed recorder, or no-ops.
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Self {
                delivered: std::array::from_fn(|_| Counter::noop()),
                slow_consumers: Counter::noop(),
                fanout: Histogram::noop(),
                bus_lag: Histogram::noop(),
                end_to_end: Histogram::noop(),
                rooms: Gauge::noop(),
                subscriptions: Gauge::noop(),
                last_delivery: Gauge::noop(),
                publishes_api: Counter::noop(),
                publishes_client: Counter::noop(),
                publish_errors: Counter::noop(),
                enabled,
            };
        }
        Self::register_series();
        Self {
            delivered: TRANSPORTS
                .map(|t| metrics::counter!(names::MESSAGES_DELIVERED, "transport" => t)),
            slow_consumers: metrics::counter!(names::SLOW_CONSUMERS),
            fanout: metrics::histogram!(names::FANOUT_SECONDS),
            bus_lag: metrics::histogram!(names::BUS_LAG_SECONDS),
            end_to_end: metrics::histogram!(names::END_TO_END_LAG_SECONDS),
            rooms: metrics::gauge!(names::ROOMS),
            subscriptions: metrics::gauge!(names::SUBSCRIPTIONS),
            last_delivery: metrics::gauge!(names::BUS_LAST_DELIVERY),
            publishes_api: metrics::counter!(names::PUBLISHES, "source" => "api"),
            publishes_client: metrics::counter!(names::PUBLISHES, "source" => "client"),
            publish_errors: metrics::counter!(names::PUBLISH_ERRORS),
            enabled,
        }
    }

    /// Registers every labelled series at 0 (see the module docs).
    fn register_series() {
        for t in &TRANSPORTS {
            metrics::gauge!(names::CONNECTIONS, "transport" => *t).increment(0.0);
            metrics::counter!(names::CONNECTIONS_ACCEPTED, "transport" => *t).increment(0);
        }
        for r in disconnect_reasons() {
            metrics::counter!(names::DISCONNECTS, "reason" => r).increment(0);
        }
        for c in client_error_codes() {
            metrics::counter!(names::CLIENT_ERRORS, "code" => c).increment(0);
        }
        for c in crate::auth::AuthError::CODES {
            metrics::counter!(names::AUTH_REFUSALS, "code" => c).increment(0);
        }
        metrics::counter!(names::IP_LIMIT_REFUSALS).increment(0);
        metrics::counter!(names::SUBSCRIBE_RATE_REFUSALS).increment(0);
        metrics::counter!(names::PENDING_HTTP_REFUSALS).increment(0);
        metrics::gauge!(names::PENDING_HTTP).set(0.0);
        for outcome in PRESENCE_OUTCOMES {
            metrics::counter!(names::PRESENCE_EVENTS, "outcome" => outcome).increment(0);
        }
        for kind in BACKEND_KINDS {
            for outcome in std::iter::once("ok").chain(crate::proxy::ProxyError::CODES) {
                metrics::counter!(names::BACKEND_REQUESTS, "kind" => kind, "outcome" => outcome)
                    .increment(0);
            }
        }
        metrics::gauge!(names::BUS_UP).set(0.0);
        metrics::gauge!(names::BUS_LAST_DELIVERY).set(0.0);
        for t in QUIC_TRANSPORTS {
            for stage in QUIC_FAILURE_STAGES {
                metrics::counter!(names::QUIC_HANDSHAKE_FAILURES, "transport" => t, "stage" => stage)
                    .increment(0);
            }
        }
        metrics::counter!(names::QUIC_RETRIES).increment(0);
        // `herald_gateway_quic_listener_up` is not registered here: only a
        // gateway with a QUIC listener exports it, so "0" always means a
        // configured listener that is not accepting.
    }

    /// `herald_gateway_quic_handshake_failures_total{transport,stage}`.
    /// `transport` is one of [`QUIC_TRANSPORTS`] (a handshake that failed
    /// before its ALPN was known counts as `quic`).
    pub fn quic_handshake_failure(&self, transport: &'static str, stage: &'static str) {
        if self.enabled {
            metrics::counter!(names::QUIC_HANDSHAKE_FAILURES, "transport" => transport, "stage" => stage)
                .increment(1);
        }
    }

    /// `herald_gateway_quic_retries_total`: an Initial answered with Retry.
    pub fn quic_retry(&self) {
        if self.enabled {
            metrics::counter!(names::QUIC_RETRIES).increment(1);
        }
    }

    /// `herald_gateway_quic_listener_up`.
    pub fn quic_up(&self, up: bool) {
        if self.enabled {
            metrics::gauge!(names::QUIC_UP).set(if up { 1.0 } else { 0.0 });
        }
    }

    /// `herald_gateway_disconnects_total{reason}`.
    pub fn disconnect(&self, reason: &'static str) {
        if self.enabled {
            metrics::counter!(names::DISCONNECTS, "reason" => reason).increment(1);
        }
    }

    /// `herald_gateway_connections{transport}`, moved by `delta`.
    pub fn connections(&self, transport: &'static str, delta: f64) {
        if self.enabled {
            metrics::gauge!(names::CONNECTIONS, "transport" => transport).increment(delta);
            if delta > 0.0 {
                metrics::counter!(names::CONNECTIONS_ACCEPTED, "transport" => transport)
                    .increment(1);
            }
        }
    }

    /// `herald_gateway_client_errors_total{code}`.
    pub fn client_error(&self, code: &'static str) {
        if self.enabled {
            metrics::counter!(names::CLIENT_ERRORS, "code" => code).increment(1);
        }
    }

    /// `herald_gateway_backend_requests_total{kind,outcome}` and
    /// `herald_gateway_backend_seconds{kind}`: one application-backend
    /// request answered (`outcome` `ok`) or failed (a `ProxyError` code).
    pub fn backend_request(
        &self,
        kind: &'static str,
        outcome: &'static str,
        took: std::time::Duration,
    ) {
        if self.enabled {
            metrics::counter!(names::BACKEND_REQUESTS, "kind" => kind, "outcome" => outcome)
                .increment(1);
            metrics::histogram!(names::BACKEND_SECONDS, "kind" => kind).record(took.as_secs_f64());
        }
    }

    /// `herald_gateway_ip_limit_refusals_total`: a connection refused for
    /// `--max-connections-per-ip`.
    pub fn ip_limit_refusal(&self) {
        if self.enabled {
            metrics::counter!(names::IP_LIMIT_REFUSALS).increment(1);
        }
    }

    /// `herald_gateway_subscribe_rate_refusals_total`: a connection closed
    /// for `--max-subscribes-per-sec`.
    pub fn subscribe_rate_refusal(&self) {
        if self.enabled {
            metrics::counter!(names::SUBSCRIBE_RATE_REFUSALS).increment(1);
        }
    }

    /// `herald_gateway_pending_http_refusals_total`: a connection closed at
    /// accept for `--max-pending-http-connections`.
    pub fn pending_http_refusal(&self) {
        if self.enabled {
            metrics::counter!(names::PENDING_HTTP_REFUSALS).increment(1);
        }
    }

    /// `herald_gateway_pending_http_connections`, set to `n`.
    pub fn pending_http(&self, n: usize) {
        if self.enabled {
            metrics::gauge!(names::PENDING_HTTP).set(n as f64);
        }
    }

    /// `herald_gateway_presence_events_total{outcome}` (one of
    /// [`PRESENCE_OUTCOMES`]).
    pub fn presence_event(&self, outcome: &'static str) {
        if self.enabled {
            metrics::counter!(names::PRESENCE_EVENTS, "outcome" => outcome).increment(1);
        }
    }

    /// `herald_gateway_auth_refusals_total{code}`: a token was refused.
    pub fn auth_refusal(&self, code: &'static str) {
        if self.enabled {
            metrics::counter!(names::AUTH_REFUSALS, "code" => code).increment(1);
        }
    }
}
