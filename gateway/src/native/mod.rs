//! Herald's native protocol (`docs/protocol.md`) over WebSocket at `/ws`.
//!
//! - [`upgrade`]: the HTTP upgrade, connection admission, and taking the
//!   raw TCP socket back from hyper.
//! - [`backend`]: the connect proxy, asked before a session starts.
//! - [`session`]: one connection's task: where a client frame is decoded
//!   and applied; the write path, ordering and close reasons are the
//!   transport core's (`crate::transport`).

pub mod backend;
pub mod session;
pub mod upgrade;
