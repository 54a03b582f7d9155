//! Server-Sent Events (`GET /sse?room=…`): a one-way stream of a fixed set
//! of rooms for clients behind proxies that block WebSockets
//! (`docs/protocol.md`, "Transports", "Server-Sent Events").
//!
//! The session logic is the transport core's and `hub::subscriptions`';
//! this module adds only the request, the framing and the body:
//!
//! - [`route`]: the HTTP handler: the query, origin, limits and access
//!   checks, each refusal a JSON error before the stream starts; the
//!   rooms are joined there, so the stream begins with their state.
//! - [`query`]: the request's rooms, position and token.
//! - [`events`]: subscription output as SSE events, with the stream
//!   position id (`herald_protocol::sse::id`) that `Last-Event-ID` brings
//!   back.
//! - [`session`]: the connection's task: the inbox, heartbeats, the
//!   token's expiry, the drain, the final `disconnect` event.
//! - [`body`]: the response body, fed from the connection's link (which
//!   has no socket of its own, like a long-polling session's), bounded by
//!   its queue.
//! - [`error`]: the JSON error responses.

pub mod body;
pub mod error;
pub mod events;
pub mod query;
pub mod route;
pub mod session;
