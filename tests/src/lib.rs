//! The end-to-end test harness: real processes, real sockets.
//!
//! # Layout
//! - [`process`]: spawning workspace binaries, signals, logs.
//! - [`gateway`]: a `herald-gateway` process on ephemeral ports, `/metrics`, publish.
//! - [`ws`]: a native-protocol WebSocket client.
//! - [`promql`]: metric names used by the Grafana dashboards and alert rules.
//!
//! The tests themselves are in `tests/e2e/`.

pub mod gateway;
pub mod process;
pub mod promql;
pub mod ws;
