//! The router's configuration: flags, `HERALD_*` environment variables and
//! an optional TOML file ([`args`]), plus the rules file ([`rules`]);
//! [`urls`] reads `--redis` from a file as one URL or a list.

pub mod args;
pub mod rules;
pub mod urls;

use std::net::SocketAddr;
use std::time::Duration;

pub use args::RouterArgs;

use crate::rules::Rules;
use crate::scope::StreamSettings;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// MongoDB connection string (a replica set).
    pub mongo_uri: String,
    /// Redis URL of the bus; with `redis_cluster`, one or more seed nodes.
    pub redis_urls: Vec<String>,
    /// The URLs are Redis Cluster nodes.
    pub redis_cluster: bool,
    /// The routing rules.
    pub rules: Rules,
    /// Admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: SocketAddr,
    /// This router's id, unique among routers.
    pub router_id: String,
    /// Bus shard count; must equal the gateways'.
    pub bus_shards: u32,
    /// Messages kept per room (must equal the gateways').
    pub history_size: usize,
    /// Idle room history lifetime (must equal the gateways').
    pub history_ttl: Duration,
    /// Stream tuning.
    pub stream: StreamSettings,
    /// Metric recording on.
    pub metrics: bool,
}
