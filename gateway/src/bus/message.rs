//! A stored publication, with its wire frames encoded once and shared.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use herald_protocol::RoomName;
use herald_protocol::native::{Format, ServerFrame, encode_server};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One publication to a room, at its position in the room's stream.
///
/// The encoded frames are built the first time a subscriber needs them and
/// shared by every later subscriber: a broadcast is encoded once per format,
/// not once per socket.
#[derive(Debug)]
pub struct Message {
    /// The room.
    pub room: RoomName,
    /// The event name.
    pub event: String,
    /// The payload.
    pub data: Value,
    /// The room's epoch when this was stored.
    pub epoch: Arc<str>,
    /// The offset in the room, consecutive from 1.
    pub offset: u64,
    /// When the publication entered the bus, Unix milliseconds.
    pub ts_ms: u64,
    /// When the change happened at its source, Unix milliseconds.
    pub src_ts_ms: Option<u64>,
    /// The native JSON frame, built on first use.
    json: OnceLock<Utf8Bytes>,
    /// The native MessagePack frame, built on first use.
    msgpack: OnceLock<Bytes>,
    /// Other transports' encodings (Socket.IO), built on first use.
    pub extra: OnceLock<Utf8Bytes>,
    /// When the message reached this node.
    pub arrived: Instant,
    /// Live deliveries not yet written (see [`Message::begin_fanout`]).
    pending: AtomicUsize,
}

impl Message {
    /// A message at `offset` in `epoch`.
    pub fn new(
        room: RoomName,
        event: String,
        data: Value,
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
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
            extra: OnceLock::new(),
            arrived: Instant::now(),
            pending: AtomicUsize::new(0),
        }
    }

    /// Starts counting live deliveries: `n` subscribers plus the deliverer.
    pub fn begin_fanout(&self, n: usize) {
        self.pending.store(n + 1, Ordering::Release);
    }

    /// Marks `n` live deliveries done (written, skipped or dropped).
    /// Returns true for the call that completes the fan-out.
    pub fn fanout_done(&self, n: usize) -> bool {
        n > 0 && self.pending.fetch_sub(n, Ordering::AcqRel) == n
    }

    fn frame(&self) -> ServerFrame {
        ServerFrame::Message {
            room: self.room.to_string(),
            event: self.event.clone(),
            data: self.data.clone(),
            offset: self.offset,
            ts: Some(self.ts_ms),
        }
    }

    /// The native `message` frame as JSON text, encoded once.
    pub fn json_frame(&self) -> Utf8Bytes {
        self.json
            .get_or_init(|| {
                let bytes = encode_server(&self.frame(), Format::Json);
                // serde_json writes UTF-8 only.
                Utf8Bytes::try_from(Bytes::from(bytes)).expect("serde_json output is UTF-8")
            })
            .clone()
    }

    /// The native `message` frame as MessagePack, encoded once.
    pub fn msgpack_frame(&self) -> Bytes {
        self.msgpack
            .get_or_init(|| Bytes::from(encode_server(&self.frame(), Format::MsgPack)))
            .clone()
    }

    /// The approximate heap size of the message, for memory accounting.
    pub fn approx_bytes(&self) -> usize {
        self.room.len() + self.event.len() + self.epoch.len() + 64
    }
}
