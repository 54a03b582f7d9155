//! The application backend: client events Herald does not handle itself,
//! and Socket.IO CONNECTs, forwarded over HTTP to URLs from config
//! (`--socketio-event-proxy`, `--connect-proxy`). See `docs/proxy.md`.
//!
//! The JSON each request carries and each reply may hold is
//! `herald_protocol::backend`, where the replies are decoded (and fuzzed).
//!
//! - [`grant`]: a connect reply's `rooms`, `publish`, `expires` as a grant.
//! - [`handshake`]: the headers and address a connect request carries.
//! - [`client`]: the node's [`Backend`]: one HTTP client, the node-wide
//!   in-flight bound, the timeout, the reply size limit.
//!
//! A transport asks with [`Backend::connect`] or [`Backend::event`] and
//! awaits the returned future inside its own session task (no spawned
//! task per call), so replies are applied in the order the session keeps
//! them and nothing outlives the session.

pub mod client;
pub mod grant;
pub mod handshake;

pub use client::{Backend, ProxyConfig, ProxyError};
