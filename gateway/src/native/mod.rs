//! Herald's native protocol (`docs/protocol.md`): over WebSocket at `/ws`,
//! and (through [`conn`]) over QUIC and WebTransport (`crate::quic`).
//!
//! - [`conn`]: a session's frame handling, for every transport: client
//!   frames applied, replies framed for the wire ([`conn::NativeWire`]).
//! - [`upgrade`]: the HTTP upgrade, connection admission, and taking the
//!   raw TCP socket back from hyper.
//! - [`backend`]: the connect proxy, asked before a session starts.
//! - [`session`]: one WebSocket connection's task (the driver of a
//!   [`conn::Conn`]); the write path, ordering and close reasons are the
//!   transport core's (`crate::transport`).

pub mod backend;
pub mod conn;
pub mod session;
pub mod upgrade;
