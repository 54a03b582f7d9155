//! The end-to-end test harness: real processes, real sockets.
//!
//! # Layout
//! - [`process`]: spawning workspace binaries, signals, logs.
//! - [`gateway`]: a `herald-gateway` process on ephemeral ports, `/metrics`, publish.
//! - [`jwks`]: a JWKS endpoint the test controls, its HMAC keys and tokens.
//! - [`leaky`]: the test-only leaky gateway build (feature `debug-leak`),
//!   built once in `target/leaky`.
//! - [`ws`]: a native-protocol WebSocket client.
//! - [`quic`]: native-protocol clients over raw QUIC and WebTransport.
//! - [`transport`]: one client type over every transport, for the
//!   behavioural suite (`tests/e2e/transports.rs`).
//! - [`node`]: the Node scripts of `tests/js/` (the real `socket.io-client`).
//! - [`promql`]: metric names used by the Grafana dashboards and alert rules.
//! - [`prometheus`]: a real Prometheus server and `promtool`, for observability tests.
//! - [`redis`]: throwaway `redis-server` processes and a 3-master Redis Cluster.
//! - [`sse`]: a Server-Sent Events client (`/sse`): events, ids, comments.
//! - [`tls`]: a throwaway CA and leaf certificates, and clients that
//!   trust it (WebSocket over TLS, HTTPS, the served certificate).
//! - [`tokens`]: JWTs minted for the tests, signed with the throwaway keys
//!   in `gateway/tests/fixtures/auth/`.
//!
//! The tests themselves are in `tests/e2e/`.

pub mod gateway;
pub mod jwks;
pub mod leaky;
pub mod node;
pub mod process;
pub mod prometheus;
pub mod promql;
pub mod quic;
pub mod redis;
pub mod sse;
pub mod tls;
pub mod tokens;
pub mod transport;
pub mod ws;
