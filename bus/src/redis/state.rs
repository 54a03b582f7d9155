//! State shared by the bus handle and its background tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use herald_protocol::RoomName;
use herald_protocol::bus::{AskReply, PresenceReply, RoomUsers};
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::RedisBusConfig;
use super::conn::{Conn, Connector};
use super::control::Waiters;
use super::keys::Keys;
use super::scripts::Scripts;
use crate::Sink;

/// A node-local view of a cluster's member counts, implemented by the hub.
pub trait LocalPresence: Send + Sync + 'static {
    /// Local subscribers of `room`.
    fn count(&self, room: &str) -> u64;
    /// Session ids of the local subscribers of `room`.
    fn sessions(&self, room: &str) -> Vec<String>;
    /// Live client connections on this node.
    fn connections(&self) -> u64;
    /// The local users of `room`: the first `limit` in byte order, the
    /// distinct total and the anonymous sessions
    /// (`herald_protocol::bus::presence::local_users`). Without an
    /// implementation the node reports none.
    fn users(&self, room: &str, limit: usize) -> RoomUsers {
        let _ = (room, limit);
        RoomUsers::default()
    }
}

/// One watched shard.
pub struct ShardWatch {
    /// Watched rooms of the shard, with their watch counts.
    pub rooms: HashMap<RoomName, usize>,
    /// The stream ID to read after.
    pub next_id: String,
    /// Distinguishes this watch from an earlier one of the same shard.
    pub generation: u64,
    /// The shard's reader task (cluster only).
    pub task: Option<AbortHandle>,
}

/// What the node reads.
#[derive(Default)]
pub struct Interest {
    /// Watched shards.
    pub shards: HashMap<u32, ShardWatch>,
    /// The control stream ID to read after.
    pub control_next: String,
    /// Bumped when every position is reset after data loss; a read begun
    /// before a reset must not move positions.
    pub resets: u64,
    /// The last generation handed out.
    pub generations: u64,
}

/// Health flags, written by the tasks and read by `health()`.
#[derive(Default)]
pub struct Status {
    /// `start` ran.
    pub started: AtomicBool,
    /// The last command round trip (heartbeat, markers) succeeded.
    pub commands_ok: AtomicBool,
    /// The readers' last `XREAD` succeeded.
    pub reader_ok: AtomicBool,
    /// The last liveness probe came back in time.
    pub probe_ok: AtomicBool,
}

impl Status {
    /// Whether publish and delivery work right now.
    pub fn ready(&self) -> bool {
        [
            &self.started,
            &self.commands_ok,
            &self.reader_ok,
            &self.probe_ok,
        ]
        .iter()
        .all(|f| f.load(Ordering::Relaxed))
    }
}

/// Everything the bus and its tasks share.
pub struct Shared {
    /// Settings.
    pub config: RedisBusConfig,
    /// Key names.
    pub keys: Keys,
    /// Opens reader connections.
    pub connector: Connector,
    /// The shared command connection (cheap to clone).
    pub conn: Conn,
    /// The protocol's scripts.
    pub scripts: Scripts,
    /// Where deliveries go; set by `start`.
    pub sink: OnceLock<Arc<dyn Sink>>,
    /// The hub's local counts, for presence replies and heartbeats.
    pub presence: Option<Arc<dyn LocalPresence>>,
    /// What the readers read.
    pub interest: Mutex<Interest>,
    /// Serializes the first watch of each shard.
    pub shard_locks: Vec<tokio::sync::Mutex<()>>,
    /// Tells the standalone reader its streams changed.
    pub wake: Notify,
    /// `CLIENT ID` of the standalone reader's connection, 0 when none.
    pub reader_client: AtomicI64,
    /// Health.
    pub status: Status,
    /// The node-private room the liveness probe publishes to.
    pub probe_room: RoomName,
    /// The latest probe position the reader saw.
    pub probe_seen: Mutex<Option<(Arc<str>, u64)>>,
    /// Open presence queries by request id.
    pub presence_waiters: Waiters<PresenceReply>,
    /// Open cluster-wide asks by request id.
    pub ask_waiters: Waiters<AskReply>,
    /// Asks this node is serving now (at most `ask::MAX_RUNNING`).
    pub asks_running: AtomicUsize,
    /// Frames waiting to be added to the control stream (bounded).
    pub control_out: mpsc::Sender<Vec<u8>>,
    /// The control writer's end, taken by `start`.
    pub control_rx: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    /// The data markers this node saw last, per shard.
    pub markers: Mutex<HashMap<u32, Vec<u8>>>,
    /// Stops every task.
    pub cancel: CancellationToken,
    /// Every background task (readers, writer, heartbeats, probe, asks),
    /// awaited by [`RedisBus::shutdown`](super::RedisBus::shutdown).
    pub tasks: TaskTracker,
}

impl Shared {
    /// The sink, once started.
    pub fn sink(&self) -> Option<&Arc<dyn Sink>> {
        self.sink.get()
    }

    /// A clone of the command connection.
    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Rooms this node watches.
    pub fn watched_rooms(&self) -> u64 {
        let i = self.interest.lock();
        i.shards.values().map(|s| s.rooms.len() as u64).sum()
    }
}
