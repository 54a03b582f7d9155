//! Herald's wire formats, free of I/O: bytes in, bytes out.
//!
//! Nothing here touches a socket, a clock or a runtime. The gateway, the
//! router and the load generator call these codecs; fuzz targets in
//! `protocol/fuzz` call every decoder.
//!
//! # Layout
//! - [`room`]: room names and the rules they must follow.
//! - [`room_pattern`]: room patterns (`lobby`, `news:*`) and bounded sets
//!   of them: which rooms a grant covers.
//! - [`position`]: a room's stream position, the `(epoch, offset)` pair.
//! - [`json_text`]: a payload kept as checked JSON text, spliced into
//!   frames without being parsed again.
//! - [`native`]: Herald's own client protocol (JSON text frames and
//!   MessagePack binary frames, one schema).
//!   - [`native::client`]: frames a client sends.
//!   - [`native::server`]: frames the gateway sends.
//!   - [`native::codec`]: decoding client frames and encoding server frames.
//!   - [`native::codes`]: every error code and close code.
//! - [`collection`]: live collections: a room's keyed set of documents,
//!   its snapshot and change payloads, and applying them.
//! - [`bus`]: the frames that travel between publishers and gateways over
//!   the bus (MessagePack with a version header).
//! - [`sio`]: the Engine.IO v4 and Socket.IO v5 codecs ([`sio::json_binary`]:
//!   attachments as `{"_binary": …}` JSON).
//! - [`backend`]: the application backend's requests and replies
//!   (`docs/proxy.md`).
//! - [`ws`]: WebSocket framing (RFC 6455), server side: where a client's
//!   bytes become messages.
//! - [`sse`]: Server-Sent Events: the stream position id a reconnecting
//!   `EventSource` sends back, and one event's bytes.
//! - [`stream`]: native frames on a byte stream (QUIC, WebTransport): a
//!   5-byte head (kind, length), then the payload.
//!
//! The full specification is `docs/protocol.md`; the bus frames are specified
//! in `docs/adapter-protocol.md`.

pub mod backend;
pub mod bus;
pub mod collection;
pub mod json_text;
pub mod native;
pub mod position;
pub mod room;
pub mod room_pattern;
pub mod sio;
pub mod sse;
pub mod stream;
pub mod ws;

pub use json_text::{InvalidJson, JsonText};
pub use position::Position;
pub use room::{RoomError, RoomName};
pub use room_pattern::{RoomPattern, RoomPatternError, RoomPatterns};
