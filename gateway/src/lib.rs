//! Herald's gateway node: holds browser connections, keeps the node's room
//! map, and fans each publication out to the local subscribers.
//!
//! # Layout
//! - [`config`]: flags, environment and TOML file → a validated [`config::Config`].
//! - [`server`]: starts the node, shares [`server::AppState`], drains on shutdown.
//! - [`http`]: the client and admin listeners, and the `/api/*` publish API.
//! - [`ws`]: the native WebSocket transport (`/ws`): where a client frame is
//!   decoded and applied ([`ws::session`]).
//! - [`socketio`]: the Socket.IO transport (`/socket.io/`): Engine.IO
//!   sessions over WebSocket and long-polling ([`socketio::session`]) and
//!   the Socket.IO layer mapping events onto rooms ([`socketio::socket`]).
//! - [`hub`]: this node's rooms: where a room's subscribers live
//!   ([`hub::rooms`]), each connection's bounded queue ([`hub::outbox`]) and
//!   its ordered, gap-free positions ([`hub::subscriptions`]).
//! - [`bus`]: between publishers and gateways: in memory ([`bus::memory`])
//!   or over Redis streams.
//! - [`metrics`]: metric names, handles, `/metrics` rendering.
//! - [`demo`]: the standalone demo feed.
//! - [`clock`]: wall-clock helpers; [`signal`]: SIGTERM; [`telemetry`]: logging.

pub mod bus;
pub mod clock;
pub mod config;
pub mod demo;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod server;
pub mod signal;
pub mod socketio;
pub mod telemetry;
pub mod ws;
