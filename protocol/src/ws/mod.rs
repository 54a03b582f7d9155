//! The WebSocket wire format (RFC 6455), server side, free of I/O.
//!
//! The gateway owns its sockets and writes pre-framed bytes to them
//! straight from the fan-out loop, so it needs framing it controls rather
//! than a stream adapter:
//! - [`frame`]: one frame's header, parsed from bytes ([`frame::parse`]) and
//!   encoded into bytes ([`frame::header`], [`frame::encode`]).
//! - [`assembler`]: client frames to whole messages: unmasking,
//!   fragmentation, control frames between fragments, size limits, UTF-8.
//! - [`close`]: close frame payloads and the close codes a peer may send.
//! - [`handshake`]: the `Sec-WebSocket-Accept` value.
//!
//! Extensions (permessage-deflate) are never negotiated, so a frame with a
//! reserved bit set is a protocol error.

pub mod assembler;
pub mod close;
pub mod frame;
pub mod handshake;

pub use assembler::{Assembler, Limits, WsMessage};
pub use frame::{Opcode, WsError};
