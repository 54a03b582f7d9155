//! Herald's Redis streams bus (`docs/adapter-protocol.md` is the specification).
//!
//! # Layout
//! - [`config`]: [`RedisBusConfig`] and its defaults.
//! - [`keys`]: the room-to-shard hash and every key name.
//! - [`conn`]: the shared command connection and dedicated reader connections
//!   (public so the router's own keys go through the same cluster-aware connection).
//! - `scripts` (+ `*.lua`): the protocol's Lua scripts and their replies
//!   (`batch_tests`: the batch script behaves as single calls).
//! - `publish`: pipelined batch publishing, fencing and replay detection.
//! - `reader`: the `XREAD` loops feeding the sink.
//! - `entry`: stream entries to messages; invalid entries are counted and skipped.
//! - `control`: control stream, presence queries, node heartbeats.
//! - `presence`: a room's users across nodes, presence join/leave events.
//! - [`ask`]: cluster-wide emits with acks over the control stream.
//! - `guard`: heartbeat and data-loss checks, the liveness probe.
//! - `state`: what the handle and its tasks share.

pub mod ask;
#[cfg(test)]
mod batch_tests;
pub mod config;
pub mod conn;
mod control;
mod entry;
mod guard;
mod history;
pub mod keys;
mod presence;
mod publish;
mod reader;
mod scripts;
mod state;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use herald_protocol::bus::{
    BusFrame, Control, ControlTarget, NodeHeartbeat, Publication, encode_bus,
};
use herald_protocol::{Position, RoomName};
use parking_lot::Mutex;
use redis::streams::StreamRangeReply;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::RedisBusConfig;
pub use entry::Skip;
pub use presence::RoomPresence;
pub use publish::Published;
pub use scripts::{HISTORY_LUA, PUBLISH_BATCH_LUA, PUBLISH_LUA};
pub use state::LocalPresence;

use self::conn::Connector;
use self::keys::{Keys, shard_of};
use self::reader::Scope;
use self::state::{Interest, ShardWatch, Shared, Status};
use crate::StoredSet;
use crate::{Bus, BusError, BusHealth, History, Sink};

/// Control frames (presence replies) queued for writing at most.
const CONTROL_QUEUE: usize = 256;

/// A [`Bus`] over Redis streams, standalone or cluster.
pub struct RedisBus {
    /// State shared with the background tasks.
    shared: Arc<Shared>,
}

fn unavailable(e: redis::RedisError) -> BusError {
    BusError::caused("Redis command failed", e)
}

impl RedisBus {
    /// Connects to Redis and loads the scripts. Delivery begins with [`Bus::start`].
    ///
    /// `presence` answers other nodes' presence queries and fills heartbeats;
    /// without it this node reports zero members.
    ///
    /// # Errors
    /// [`BusError::Invalid`] for a bad configuration, [`BusError::Unavailable`]
    /// when Redis cannot be reached.
    pub async fn connect(
        config: RedisBusConfig,
        presence: Option<Arc<dyn LocalPresence>>,
    ) -> Result<Arc<Self>, BusError> {
        if config.shards == 0 {
            return Err(BusError::Invalid("shards must be at least 1".into()));
        }
        let probe_room = RoomName::new(&format!("_herald.probe.{}", sanitize(&config.node_id)))
            .map_err(|e| BusError::Invalid(format!("node id: {e}")))?;
        let connector = Connector::new(&config).map_err(|e| BusError::Invalid(e.to_string()))?;
        let conn = tokio::time::timeout(
            config.command_timeout * 2,
            connector.commands(config.command_timeout),
        )
        .await
        .map_err(|_| BusError::unavailable("connecting to Redis timed out"))?
        .map_err(unavailable)?;
        let (control_out, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let shared = Shared {
            keys: Keys::new(&config.prefix),
            shard_locks: (0..config.shards)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            config,
            connector,
            conn,
            scripts: scripts::Scripts::new(),
            sink: OnceLock::new(),
            presence,
            interest: Mutex::new(Interest::default()),
            wake: Notify::new(),
            reader_client: Default::default(),
            status: Status::default(),
            probe_room,
            probe_seen: Mutex::new(None),
            presence_waiters: Mutex::new(HashMap::new()),
            ask_waiters: Mutex::new(HashMap::new()),
            asks_running: Default::default(),
            control_out,
            control_rx: Mutex::new(Some(control_rx)),
            markers: Mutex::new(HashMap::new()),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let mut c = shared.conn();
        for s in [
            &shared.scripts.publish,
            &shared.scripts.publish_batch,
            &shared.scripts.history,
        ] {
            s.load_async(&mut c).await.map_err(unavailable)?;
        }
        Ok(Arc::new(Self {
            shared: Arc::new(shared),
        }))
    }

    /// Publishes and tells stored publications from replays apart.
    pub async fn publish_detailed(
        &self,
        batch: Vec<Publication>,
    ) -> Vec<Result<Published, BusError>> {
        publish::publish(&self.shared, batch).await
    }

    /// The live nodes' latest heartbeats (this node included once started).
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when Redis did not answer.
    pub async fn nodes(&self) -> Result<Vec<NodeHeartbeat>, BusError> {
        control::heartbeat(&self.shared, control::Heartbeat::List).await
    }

    /// Member counts of `rooms` summed over every live node, waiting at most
    /// `presence_timeout` for replies.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the query could not be sent.
    pub async fn room_counts(&self, rooms: &[String]) -> Result<HashMap<String, u64>, BusError> {
        control::room_counts(&self.shared, rooms).await
    }

    /// The users of `room` across every live node (the first `limit`, at
    /// most `MAX_PRESENCE_USERS`), waiting at most `presence_timeout`.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the query could not be sent.
    pub async fn room_users(&self, room: &str, limit: usize) -> Result<RoomPresence, BusError> {
        presence::room_users(&self.shared, room, limit).await
    }

    /// Sends `event` with an ack callback to the target's sockets on every
    /// live node and returns their answers, waiting at most `timeout` (plus
    /// the presence timeout for the replies to cross Redis).
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the request could not be sent.
    pub async fn ask(
        &self,
        target: ControlTarget,
        event: String,
        data: serde_json::Value,
        timeout: std::time::Duration,
    ) -> Result<ask::ClusterAnswers, BusError> {
        ask::ask_cluster(&self.shared, target, event, data, timeout).await
    }

    /// Stores `value` under `key` for `ttl`, for state that must survive a
    /// client moving to another node (Socket.IO recovery records). The
    /// key is `<prefix>:eph:<key>`, a single key, so it is cluster-safe.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when Redis did not store it.
    pub async fn put_ephemeral(
        &self,
        key: &str,
        value: &[u8],
        ttl: std::time::Duration,
    ) -> Result<(), BusError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.ephemeral_key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        self.command::<()>(cmd, "SET").await
    }

    /// Takes (reads and deletes) what [`RedisBus::put_ephemeral`] stored.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when Redis did not answer.
    pub async fn take_ephemeral(&self, key: &str) -> Result<Option<Vec<u8>>, BusError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.ephemeral_key(key));
        self.command::<Option<Vec<u8>>>(cmd, "GETDEL").await
    }

    /// Deletes what [`RedisBus::put_ephemeral`] stored, if anything.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when Redis did not answer.
    pub async fn delete_ephemeral(&self, key: &str) -> Result<(), BusError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.ephemeral_key(key));
        self.command::<()>(cmd, "DEL").await
    }

    fn ephemeral_key(&self, key: &str) -> String {
        format!("{}:eph:{key}", self.shared.config.prefix)
    }

    async fn command<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
        what: &str,
    ) -> Result<T, BusError> {
        let mut conn = self.shared.conn();
        let q = cmd.query_async::<T>(&mut conn);
        tokio::time::timeout(self.shared.config.command_timeout, q)
            .await
            .map_err(|_| BusError::unavailable(format!("{what} timed out")))?
            .map_err(unavailable)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.shared.config.node_id
    }

    /// The shard `room` maps to.
    pub fn shard_of(&self, room: &str) -> u32 {
        shard_of(room, self.shared.config.shards)
    }

    /// Stops every background task without leaving the node registry, as a
    /// crash would: other nodes drop this one after `node_ttl`.
    pub fn stop(&self) {
        self.shared.cancel.cancel();
        let mut i = self.shared.interest.lock();
        for w in i.shards.values_mut() {
            if let Some(t) = w.task.take() {
                t.abort();
            }
        }
    }

    /// Leaves the node registry (if the bus was started as a node), stops
    /// every background task and waits for them to end.
    pub async fn shutdown(&self) {
        if self.shared.status.started.load(Ordering::Relaxed) {
            let _ = control::heartbeat(&self.shared, control::Heartbeat::Leave).await;
        }
        self.stop();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }

    fn spawn_shard_reader(&self, shard: u32, generation: u64) -> Option<tokio::task::AbortHandle> {
        self.shared.connector.is_cluster().then(|| {
            self.shared
                .tasks
                .spawn(reader::run(
                    self.shared.clone(),
                    Scope::Shard(shard, generation),
                ))
                .abort_handle()
        })
    }

    async fn last_id(&self, key: String) -> Result<String, BusError> {
        let mut conn = self.shared.conn();
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
        let q = cmd.query_async::<StreamRangeReply>(&mut conn);
        let reply = tokio::time::timeout(self.shared.config.command_timeout, q)
            .await
            .map_err(|_| BusError::unavailable("XREVRANGE timed out"))?
            .map_err(unavailable)?;
        Ok(reply
            .ids
            .last()
            .map_or_else(|| "0-0".to_owned(), |e| e.id.clone()))
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keeps the characters a room name allows.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[async_trait]
impl Bus for RedisBus {
    async fn start(&self, sink: Arc<dyn Sink>) -> Result<(), BusError> {
        let shared = &self.shared;
        shared
            .sink
            .set(sink)
            .map_err(|_| BusError::unavailable("bus already started"))?;
        let Some(control_rx) = shared.control_rx.lock().take() else {
            return Err(BusError::unavailable("bus already started"));
        };
        // Learn the data markers first so a later loss is noticed.
        guard::check_markers(shared).await.map_err(unavailable)?;
        let control_next = self.last_id(shared.keys.control()).await?;
        shared.interest.lock().control_next = control_next;
        shared.status.commands_ok.store(true, Ordering::Relaxed);
        shared.status.started.store(true, Ordering::Relaxed);
        if shared.connector.is_cluster() {
            shared
                .tasks
                .spawn(reader::run(shared.clone(), Scope::Control));
        } else {
            shared.tasks.spawn(reader::run(shared.clone(), Scope::All));
        }
        self.watch(&shared.probe_room.clone()).await?;
        shared
            .tasks
            .spawn(control::writer(shared.clone(), control_rx));
        shared.tasks.spawn(guard::heartbeat_loop(shared.clone()));
        shared.tasks.spawn(guard::probe_loop(shared.clone()));
        Ok(())
    }

    async fn publish(&self, batch: Vec<Publication>) -> Vec<Result<Position, BusError>> {
        publish::publish(&self.shared, batch)
            .await
            .into_iter()
            .map(|r| r.map(Published::into_position))
            .collect()
    }

    async fn history(
        &self,
        room: &RoomName,
        since: Option<&Position>,
        limit: usize,
    ) -> Result<History, BusError> {
        let read = history::read(&self.shared, room, since, limit).await?;
        Ok(History {
            snapshot: read
                .set
                .map(|set| Arc::new(set.snapshot(room, control::now_ms()))),
            ..read.history
        })
    }

    async fn read_set(&self, room: &RoomName) -> Result<Option<StoredSet>, BusError> {
        Ok(history::read(&self.shared, room, None, 0).await?.set)
    }

    async fn watch(&self, room: &RoomName) -> Result<(), BusError> {
        let shared = &self.shared;
        let s = shard_of(room, shared.config.shards);
        let add = |i: &mut Interest| -> bool {
            match i.shards.get_mut(&s) {
                Some(w) => {
                    *w.rooms.entry(room.clone()).or_default() += 1;
                    true
                }
                None => false,
            }
        };
        if add(&mut shared.interest.lock()) {
            return Ok(());
        }
        let lock = shared
            .shard_locks
            .get(s as usize)
            .ok_or_else(|| BusError::Invalid("shard out of range".into()))?;
        let _first = lock.lock().await;
        if add(&mut shared.interest.lock()) {
            return Ok(());
        }
        let next_id = self.last_id(shared.keys.stream(s)).await?;
        {
            let mut i = shared.interest.lock();
            i.generations += 1;
            let generation = i.generations;
            i.shards.insert(
                s,
                ShardWatch {
                    rooms: HashMap::from([(room.clone(), 1)]),
                    next_id,
                    generation,
                    task: self.spawn_shard_reader(s, generation),
                },
            );
        }
        shared.wake.notify_one();
        Ok(())
    }

    fn unwatch(&self, room: &RoomName) {
        let s = shard_of(room, self.shared.config.shards);
        let mut i = self.shared.interest.lock();
        let Some(w) = i.shards.get_mut(&s) else {
            return;
        };
        if let Some(n) = w.rooms.get_mut(room) {
            *n -= 1;
            if *n == 0 {
                w.rooms.remove(room);
            }
        }
        if w.rooms.is_empty()
            && let Some(w) = i.shards.remove(&s)
            && let Some(t) = w.task
        {
            t.abort();
        }
    }

    async fn control(&self, cmd: Control) -> Result<(), BusError> {
        control::append(&self.shared, encode_bus(&BusFrame::Control(cmd))).await
    }

    fn presence(&self, event: herald_protocol::bus::PresenceEvent) -> bool {
        presence::announce(&self.shared, event)
    }

    fn health(&self) -> BusHealth {
        let st = &self.shared.status;
        let flag = |f: &std::sync::atomic::AtomicBool| f.load(Ordering::Relaxed);
        BusHealth {
            ready: st.ready(),
            detail: format!(
                "redis bus node {}: started={} commands_ok={} reader_ok={} last_probe_ok={}",
                self.shared.config.node_id,
                flag(&st.started),
                flag(&st.commands_ok),
                flag(&st.reader_ok),
                flag(&st.probe_ok),
            ),
        }
    }
}
