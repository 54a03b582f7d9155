//! A stored publication: data only. Transports encode it (the gateway's
//! hub keeps each broadcast's encodings, built once per format).

use std::sync::Arc;

use herald_protocol::{JsonText, RoomName};

/// One publication to a room, at its position in the room's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The room.
    pub room: RoomName,
    /// The event name.
    pub event: String,
    /// The payload, as JSON text (shared with the bus frame it came in).
    pub data: JsonText,
    /// The room's epoch when this was stored.
    pub epoch: Arc<str>,
    /// The offset in the room, consecutive from 1.
    pub offset: u64,
    /// When the publication entered the bus, Unix milliseconds.
    pub ts_ms: u64,
    /// When the change happened at its source, Unix milliseconds.
    pub src_ts_ms: Option<u64>,
}

impl Message {
    /// A message at `offset` in `epoch`.
    pub fn new(
        room: RoomName,
        event: String,
        data: JsonText,
        epoch: Arc<str>,
        offset: u64,
        ts_ms: u64,
        src_ts_ms: Option<u64>,
    ) -> Self {
        Self {
            room,
            event,
            data,
            epoch,
            offset,
            ts_ms,
            src_ts_ms,
        }
    }

    /// The approximate heap size of the message, for memory accounting.
    pub fn approx_bytes(&self) -> usize {
        self.room.len() + self.event.len() + self.epoch.len() + self.data.len() + 64
    }
}
