//! The native WebSocket transport at `/ws`.
//!
//! - [`upgrade`]: the HTTP upgrade, connection admission, and handing the raw
//!   socket to tungstenite with small buffers.
//! - [`session`]: one connection's task: decode client frames, apply them,
//!   write the outbox, heartbeats, close codes.

pub mod session;
pub mod upgrade;
