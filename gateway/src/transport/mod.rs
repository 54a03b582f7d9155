//! The transport core: what every transport (native WebSocket, Socket.IO
//! over WebSocket or long-polling, and the ones to come) shares, so a fix
//! lands once for all of them. Each transport keeps only its own framing
//! and ops; the session logic (rooms, ordering, recovery, limits, close
//! reasons) lives here and in `hub::subscriptions`.
//!
//! - [`link`]: a connection's write side, shared with the fan-out: direct
//!   non-blocking writes, the bounded queue behind them, the inbox of work
//!   for the connection's task, the slow-consumer rule, room positions.
//! - [`frames`]: a broadcast's wire bytes, built once per framing.
//! - [`socket`]: the stream a WebSocket runs on: TCP, or TLS relayed.
//! - [`ws`]: WebSocket over a [`socket::Socket`]: reading client messages, the close
//!   sequence.
//! - [`end`]: how a connection ends, and the one mapping from errors to
//!   close codes and disconnect reasons (a TCP reset is `client_closed`).
//! - [`publish`]: a client's publish, for every protocol.
//! - [`accounting`]: closing each delivery's fan-out and lag measurements.
//! - [`sentlog`]: what a socket was sent, for Socket.IO recovery.
//! - [`span`]: the per-connection tracing span.
//! - [`rate`]: the token bucket for the frames a client sends (4010).

pub mod accounting;
pub mod end;
pub mod frames;
pub mod link;
pub mod publish;
pub mod rate;
pub mod sentlog;
pub mod socket;
pub mod span;
pub mod ws;

#[cfg(test)]
mod link_tests;
#[cfg(test)]
pub mod testwire;
