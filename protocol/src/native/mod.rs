//! Herald's native client protocol.
//!
//! One schema, two encodings: JSON in WebSocket text frames and MessagePack
//! (maps with field names) in binary frames. The gateway answers in the
//! encoding the client last used. `docs/protocol.md` is the specification.

pub mod client;
pub mod codec;
pub mod codes;
pub mod server;

pub use client::ClientFrame;
pub use codec::{DecodeError, Format, decode_client, decode_server, encode_client, encode_server};
pub use codes::{CloseCode, ErrorCode};
pub use server::ServerFrame;
