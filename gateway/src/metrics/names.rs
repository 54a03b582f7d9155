//! Metric names: the public contract the dashboards and alerts rely on.

/// Gauge, by `transport`: live client connections.
pub const CONNECTIONS: &str = "herald_gateway_connections";
/// Counter, by `transport`: accepted client connections.
pub const CONNECTIONS_ACCEPTED: &str = "herald_gateway_connections_accepted_total";
/// Counter, by `reason`: closed connections.
pub const DISCONNECTS: &str = "herald_gateway_disconnects_total";
/// Gauge: rooms with at least one local subscriber.
pub const ROOMS: &str = "herald_gateway_rooms";
/// Gauge: local (connection, room) subscriptions.
pub const SUBSCRIPTIONS: &str = "herald_gateway_subscriptions";
/// Counter: messages written to client sockets.
pub const MESSAGES_DELIVERED: &str = "herald_gateway_messages_delivered_total";
/// Counter: connections closed because their queue filled.
pub const SLOW_CONSUMERS: &str = "herald_gateway_slow_consumer_disconnects_total";
/// Histogram: a message's arrival at the node to its write to the last local subscriber.
pub const FANOUT_SECONDS: &str = "herald_gateway_fanout_seconds";
/// Histogram: publish time to arrival at the node.
pub const BUS_LAG_SECONDS: &str = "herald_gateway_bus_lag_seconds";
/// Histogram: source commit (or publish) time to the socket write.
pub const END_TO_END_LAG_SECONDS: &str = "herald_end_to_end_lag_seconds";
/// Counter, by `source` (`api`, `client`): publications accepted.
pub const PUBLISHES: &str = "herald_gateway_publishes_total";
/// Counter: publications the bus did not accept.
pub const PUBLISH_ERRORS: &str = "herald_gateway_publish_errors_total";
/// Gauge: 1 while the bus is healthy, else 0.
pub const BUS_UP: &str = "herald_gateway_bus_up";
/// Gauge: Unix time of the last message the bus delivered to this node.
pub const BUS_LAST_DELIVERY: &str = "herald_gateway_bus_last_delivery_timestamp_seconds";
/// Counter, by `code` (`AuthError::CODES`): tokens refused.
pub const AUTH_REFUSALS: &str = "herald_gateway_auth_refusals_total";
/// Connections refused for `--max-connections-per-ip`.
pub const IP_LIMIT_REFUSALS: &str = "herald_gateway_ip_limit_refusals_total";
/// Counter, by `kind` (`connect`, `event`) and `outcome` (`ok`, or
/// `ProxyError::CODES`): requests to the application backend.
pub const BACKEND_REQUESTS: &str = "herald_gateway_backend_requests_total";
/// Histogram, by `kind`: an application-backend request's time to its answer.
pub const BACKEND_SECONDS: &str = "herald_gateway_backend_seconds";
/// Counter, by `code`: client frames answered with an error.
pub const CLIENT_ERRORS: &str = "herald_gateway_client_errors_total";
/// Counter, by `outcome` (`ok`, `error`): TLS certificate reloads; an
/// error keeps the old certificate.
pub const TLS_RELOADS: &str = "herald_gateway_tls_reloads_total";
/// Counter, by `outcome` (`ok`, or `JwksError::CODES`): fetches of
/// `--jwt-jwks-url`; a failed one keeps the last good keys.
pub const JWKS_FETCHES: &str = "herald_gateway_jwks_fetches_total";
/// Counter, by `outcome` (`delivered`, `dropped`): presence events of
/// presence rooms this node handed to its subscribers, or dropped for the
/// room's size or event budget.
pub const PRESENCE_EVENTS: &str = "herald_gateway_presence_events_total";
/// Counter: connections closed for subscribing faster than
/// `--max-subscribes-per-sec` (4012).
pub const SUBSCRIBE_RATE_REFUSALS: &str = "herald_gateway_subscribe_rate_refusals_total";
/// Gauge: client connections accepted whose first request's headers have
/// not arrived yet.
pub const PENDING_HTTP: &str = "herald_gateway_pending_http_connections";
/// Counter: client connections closed at accept because
/// `--max-pending-http-connections` were already pending.
pub const PENDING_HTTP_REFUSALS: &str = "herald_gateway_pending_http_refusals_total";
/// Counter, by `transport` (`webtransport`, `quic`) and `stage`
/// (`handshake`, `session`): QUIC connections that failed before a native
/// session began (a TLS or QUIC handshake, or the WebTransport CONNECT).
pub const QUIC_HANDSHAKE_FAILURES: &str = "herald_gateway_quic_handshake_failures_total";
/// Counter: QUIC Initial packets answered with a Retry (address
/// validation under load, `--quic-retry-threshold`).
pub const QUIC_RETRIES: &str = "herald_gateway_quic_retries_total";
/// Gauge: 1 while the QUIC listener is bound and accepting, else 0.
pub const QUIC_UP: &str = "herald_gateway_quic_listener_up";
