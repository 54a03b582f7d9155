//! Engine.IO v4 and Socket.IO v5 codecs (see `docs/socketio-codec.md`).
//!
//! Two layers, both sans-IO. Engine.IO frames a session over WebSocket or
//! HTTP long-polling; Socket.IO packets ride inside Engine.IO messages.
//!
//! Receiving on WebSocket: a text frame goes through [`decode_eio_text`];
//! the text of an [`EioPacket::Message`] and every binary frame go to a
//! [`BinaryAssembler`], which returns complete [`SioPacket`]s. Sending:
//! [`encode_frame`] for one packet, [`encode_event_frame`] for a broadcast
//! encoded once for all clients.
//!
//! # Layout
//! - [`engineio`]: Engine.IO packets and their WebSocket frames.
//! - [`polling`]: Engine.IO long-polling payloads.
//! - [`socketio`]: Socket.IO packets, their validation and encoding.
//! - [`assembler`]: reassembling binary packets from their attachments.
//! - [`broadcast`]: the shared broadcast frame.
//! - [`query`]: the query string of an Engine.IO request.
//! - [`recovery`]: Herald's connection state recovery offset string.
//! - [`json_binary`]: attachments as `{"_binary": "<base64>"}` in JSON, both ways.

pub mod assembler;
pub mod broadcast;
pub mod engineio;
pub mod json_binary;
pub mod polling;
pub mod query;
pub mod recovery;
pub mod socketio;

pub use assembler::BinaryAssembler;
pub use broadcast::{encode_event_frame, encode_event_frame_into, encode_event_frame_json};
pub use engineio::{
    EIO_VERSION, EioData, EioError, EioPacket, OpenInfo, WsFrame,
    decode_binary as decode_eio_binary, decode_text as decode_eio_text,
    encode_text as encode_eio_text, encode_ws as encode_eio_ws,
};
pub use polling::{RECORD_SEPARATOR, decode_payload, encode_payload, join_frames};
pub use socketio::{
    DEFAULT_NSP, MAX_ATTACHMENTS, MAX_NSP_BYTES, RESERVED_EVENTS, RecoveryRequest, SioDecoded,
    SioError, SioKind, SioPacket, decode_text, decode_text_with, encode, encode_frame, placeholder,
};
