//! Herald's gateway node: holds browser connections, keeps the node's room
//! map, and fans each publication out to the local subscribers.
//!
//! # Layout
//! - [`config`]: flags, environment and TOML file → a validated [`config::Config`].
//! - [`server`]: starts the node, shares [`server::AppState`], drains on shutdown.
//! - [`http`]: the client and admin listeners, and the `/api/*` publish API.
//! - [`transport`]: what every transport shares. A delivery is written to a
//!   socket in [`transport::link`]; a client's WebSocket bytes become
//!   messages in `herald_protocol::ws`, read in [`transport::ws`].
//! - [`native`]: Herald's native protocol: where a native client frame is
//!   applied, for every transport ([`native::conn`]), and the WebSocket
//!   driver at `/ws` ([`native::session`]).
//! - [`quic`]: WebTransport (`https://HOST:PORT/wt`) and raw QUIC (ALPN
//!   `herald`) on one UDP port: the accept loop, Retry and the ALPN
//!   dispatch ([`quic::endpoint`]), the certificate, self-signed in
//!   standalone mode ([`quic::cert`]), and the native session on a stream
//!   ([`quic::session`]).
//! - [`socketio`]: the Socket.IO transport (`/socket.io/`): Engine.IO
//!   sessions over WebSocket and long-polling ([`socketio::session`]) and
//!   the Socket.IO layer mapping events onto rooms ([`socketio::socket`]).
//! - [`sse`]: Server-Sent Events (`/sse`): a one-way stream of a fixed
//!   set of rooms whose `id:` (`Last-Event-ID` on reconnect) holds the
//!   position in every room ([`sse::route`], [`sse::events`]).
//! - [`hub`]: this node's rooms: where a room's subscribers live
//!   ([`hub::rooms`]), the fan-out ([`hub::fanout`]) and each connection's
//!   ordered, gap-free positions ([`hub::subscriptions`]).
//! - [`auth`]: who may see what. The node's [`auth::Gate`] and each
//!   connection's [`auth::Access`] (asked before every subscribe and
//!   publish), token verification (keys pinned to one algorithm, chosen by
//!   `kid`), room-pattern permissions and scoped API keys
//!   (`docs/security.md`).
//! - [`jwks`]: `--jwt-jwks-url`: keys fetched from the issuer, bounded,
//!   cached, refetched for an unknown `kid` at most once per cool-down.
//! - [`proxy`]: the application backend: Socket.IO CONNECTs and client
//!   events Herald does not handle itself, asked of HTTP URLs from config.
//! - [`tls`]: TLS on both listeners: PEM files, the certificate every new
//!   handshake gets, reloads on SIGHUP and file changes, the plaintext relay.
//! - [`metrics`]: the gateway's metric names and hot-path handles.
//! - [`demo`]: the standalone demo feed.
//!
//! The bus (publications, history; where Redis is read and written) is the
//! `herald_bus` crate; config files, logging, signals and `/metrics`
//! rendering are `herald_service`.

pub mod auth;
pub mod config;
pub mod demo;
pub mod http;
pub mod hub;
pub mod jwks;
pub mod metrics;
pub mod native;
pub mod proxy;
pub mod quic;
pub mod server;
pub mod socketio;
pub mod sse;
pub mod tls;
pub mod transport;
