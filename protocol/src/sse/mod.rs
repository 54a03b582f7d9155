//! Server-Sent Events (`text/event-stream`), sans-IO: the stream position
//! id a reconnecting `EventSource` sends back ([`id`]), and the bytes of
//! one event ([`event`]). The transport is specified in `docs/protocol.md`,
//! "Transports", "Server-Sent Events".

pub mod event;
pub mod id;

pub use event::{COMMENT_PING, write_event, write_id_line};
pub use id::{Entry, IdError, MAX_ENTRIES, MAX_ID_BYTES, decode_id, encode_id, epoch_check};
