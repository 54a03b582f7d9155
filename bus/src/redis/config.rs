//! The Redis bus's settings, each with its documented default.

use std::time::Duration;

/// How to reach Redis and how to lay Herald's data out in it.
///
/// `docs/adapter-protocol.md` specifies the layout; every node and every
/// external emitter of one deployment must agree on `shards`, `prefix` and
/// the history settings.
#[derive(Debug, Clone)]
pub struct RedisBusConfig {
    /// Connection URLs. Standalone: one `redis://[user:pass@]host:port[/db]`
    /// URL. Cluster: one or more seed nodes. Default `redis://127.0.0.1:6379`.
    /// `rediss://` connects with TLS (rustls; system and webpki roots);
    /// appending `#insecure` skips certificate verification (tests only).
    pub urls: Vec<String>,
    /// Whether `urls` name a Redis Cluster. Default `false`.
    pub cluster: bool,
    /// Key prefix; every key starts with it. Default `herald`.
    pub prefix: String,
    /// Shard streams rooms are spread over. Default 64; 16 is recommended on
    /// a cluster, which runs one reader connection per watched shard.
    pub shards: u32,
    /// Messages kept per room for snapshots and recovery. Default 100.
    pub history_size: usize,
    /// A room untouched for this long forgets its history and epoch.
    /// Default 24 h.
    pub history_ttl: Duration,
    /// Approximate length each shard stream is trimmed to. Default 100,000.
    pub stream_maxlen: u64,
    /// Approximate length the control stream is trimmed to. Default 10,000.
    pub control_maxlen: u64,
    /// How long one `XREAD` blocks. Default 2 s.
    pub block: Duration,
    /// Entries one `XREAD` returns per stream at most. Default 512.
    pub read_count: usize,
    /// This node's id, unique in the deployment. Default `gw-<random>`.
    pub node_id: String,
    /// How often the node writes its heartbeat and checks the data markers.
    /// Default 2 s.
    pub heartbeat_interval: Duration,
    /// A node whose last heartbeat is older than this is dead. Default 10 s.
    pub node_ttl: Duration,
    /// How often the liveness probe runs. Default 5 s.
    pub probe_interval: Duration,
    /// How long a probe may take to come back through the reader. Default 3 s.
    pub probe_deadline: Duration,
    /// Upper bound on one publish batch or query round trip. Default 2 s.
    pub command_timeout: Duration,
    /// How long `room_counts` waits for other nodes' replies. Default 500 ms.
    pub presence_timeout: Duration,
    /// Largest encoded publication frame accepted, bytes. Default 1 MiB.
    pub max_frame_bytes: usize,
}

impl Default for RedisBusConfig {
    fn default() -> Self {
        Self {
            urls: vec!["redis://127.0.0.1:6379".into()],
            cluster: false,
            prefix: "herald".into(),
            shards: 64,
            history_size: 100,
            history_ttl: Duration::from_secs(24 * 3600),
            stream_maxlen: 100_000,
            control_maxlen: 10_000,
            block: Duration::from_secs(2),
            read_count: 512,
            node_id: format!("gw-{:08x}", rand::random::<u32>()),
            heartbeat_interval: Duration::from_secs(2),
            node_ttl: Duration::from_secs(10),
            probe_interval: Duration::from_secs(5),
            probe_deadline: Duration::from_secs(3),
            command_timeout: Duration::from_secs(2),
            presence_timeout: Duration::from_millis(500),
            max_frame_bytes: 1 << 20,
        }
    }
}
