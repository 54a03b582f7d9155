//! Metrics: names, cheap handles for the hot path, the Prometheus recorder
//! and the standard process metrics.
//!
//! Handles are resolved once and kept in [`GatewayMetrics`]; the hot path
//! only does atomic adds. With metrics off, every handle is a no-op.

pub mod names;
pub mod process;
pub mod recorder;

use metrics::{Counter, Gauge, Histogram};

/// The gateway's metric handles.
pub struct GatewayMetrics {
    /// `herald_gateway_messages_delivered_total`.
    pub delivered: Counter,
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

impl GatewayMetrics {
    /// Handles registered with the installed recorder, or no-ops.
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Self {
                delivered: Counter::noop(),
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
        Self {
            delivered: metrics::counter!(names::MESSAGES_DELIVERED),
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
}
