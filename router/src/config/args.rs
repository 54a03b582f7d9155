//! The router's flags. Every flag also reads `HERALD_<NAME>` from the
//! environment and `<name>` from the TOML file given by `--config`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use herald_service::config::ConfigError;
use serde::{Deserialize, Serialize};

use super::RouterConfig;
use super::rules::load_rules;
use crate::scope::{CollectionSettings, StreamSettings};

/// Herald router: tails MongoDB change streams and publishes each change
/// into rooms on the Redis bus.
///
/// Precedence: flags, then HERALD_* environment variables, then the TOML
/// file given with --config (keys are the long flag names, with - or _),
/// then the defaults shown here.
#[derive(Debug, Clone, Parser, Serialize, Deserialize)]
#[command(name = "herald-router", version, about, long_about = None)]
#[serde(deny_unknown_fields)]
pub struct RouterArgs {
    /// TOML config file.
    #[arg(long, env = "HERALD_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// MongoDB connection string of a replica set (change streams need one).
    #[arg(long, env = "HERALD_MONGO", hide_env_values = true)]
    pub mongo: Option<String>,

    /// Redis URL of the bus (redis:// or rediss://). With --redis-cluster,
    /// repeat or separate with commas to list seed nodes.
    #[arg(
        long,
        env = "HERALD_REDIS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    #[serde(default, deserialize_with = "super::urls::one_or_many")]
    pub redis: Vec<String>,

    /// The Redis URLs are Redis Cluster nodes (bus, leases and checkpoints).
    #[arg(long, env = "HERALD_REDIS_CLUSTER")]
    #[serde(default)]
    pub redis_cluster: bool,

    /// Routing rules file (TOML: [[scope]] and [[rule]] tables).
    #[arg(long, env = "HERALD_RULES")]
    pub rules: Option<PathBuf>,

    /// Admin listener address (/metrics, /healthz, /readyz).
    #[arg(long, env = "HERALD_ADMIN_LISTEN", default_value = "127.0.0.1:9091")]
    pub admin_listen: SocketAddr,

    /// This router's id, unique among routers [default: router-<random>].
    #[arg(long, env = "HERALD_ROUTER_ID")]
    pub router_id: Option<String>,

    /// Leadership lease per scope, in milliseconds; a standby takes over within two.
    #[arg(long, env = "HERALD_LEASE_MS", default_value_t = 3000)]
    pub lease_ms: u64,

    /// Number of shard streams rooms are hashed onto (must match the gateways).
    #[arg(long, env = "HERALD_BUS_SHARDS", default_value_t = 64)]
    pub bus_shards: u32,

    /// Messages kept per room (must match the gateways).
    #[arg(long, env = "HERALD_HISTORY_SIZE", default_value_t = 100)]
    pub history_size: usize,

    /// Seconds an idle room keeps its history (must match the gateways).
    #[arg(long, env = "HERALD_HISTORY_TTL_SECS", default_value_t = 3600)]
    pub history_ttl_secs: u64,

    /// Least milliseconds between checkpoint writes while changes flow (0: every batch).
    #[arg(long, env = "HERALD_CHECKPOINT_INTERVAL_MS", default_value_t = 1000)]
    pub checkpoint_interval_ms: u64,

    /// Change events larger than this many bytes (raw BSON) are skipped and counted.
    #[arg(long, env = "HERALD_MAX_EVENT_BYTES", default_value_t = 1_048_576)]
    pub max_event_bytes: usize,

    /// Most change events published as one pipelined batch.
    #[arg(long, env = "HERALD_BATCH_MAX", default_value_t = 512)]
    pub batch_max: usize,

    /// Most documents one resync publishes per scope.
    #[arg(long, env = "HERALD_RESYNC_MAX_DOCS", default_value_t = 10_000)]
    pub resync_max_docs: usize,

    /// Most documents a live collection's set holds (a rule's `limit` may not exceed it).
    #[arg(long, env = "HERALD_COLLECTION_MAX_DOCS", default_value_t = 1000)]
    pub collection_max_docs: usize,

    /// Live-collection documents larger than this many bytes (JSON) are skipped and counted.
    #[arg(
        long,
        env = "HERALD_COLLECTION_MAX_DOC_BYTES",
        default_value_t = 65_536
    )]
    pub collection_max_doc_bytes: usize,

    /// Most live-collection rooms whose sets the router keeps in memory (least recently used go).
    #[arg(long, env = "HERALD_COLLECTION_CACHE_ROOMS", default_value_t = 1000)]
    pub collection_cache_rooms: usize,

    /// Milliseconds one getMore waits for changes (the idle checkpoint heartbeat).
    #[arg(long, env = "HERALD_MAX_AWAIT_MS", default_value_t = 1000)]
    pub max_await_ms: u64,

    /// Turn metric recording off.
    #[arg(long, env = "HERALD_NO_METRICS")]
    #[serde(default)]
    pub no_metrics: bool,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "HERALD_LOG", default_value = "info")]
    pub log: String,

    /// Log as JSON lines instead of text.
    #[arg(long, env = "HERALD_LOG_JSON")]
    #[serde(default)]
    pub log_json: bool,
}

impl RouterArgs {
    /// Checks the arguments, reads the rules file, and builds [`RouterConfig`].
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first unacceptable option (for
    /// the rules file: the scope or rule and its field).
    pub fn into_config(self) -> Result<RouterConfig, ConfigError> {
        let invalid = |option: &str, message: &str| ConfigError::Invalid {
            option: option.into(),
            message: message.into(),
        };
        let mongo = self
            .mongo
            .ok_or_else(|| invalid("--mongo", "is required"))?;
        if !(mongo.starts_with("mongodb://") || mongo.starts_with("mongodb+srv://")) {
            return Err(invalid(
                "--mongo",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
        if self.redis.is_empty() {
            return Err(invalid("--redis", "is required"));
        }
        if self
            .redis
            .iter()
            .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
        {
            return Err(invalid("--redis", "must start with redis:// or rediss://"));
        }
        if !self.redis_cluster && self.redis.len() > 1 {
            return Err(invalid(
                "--redis",
                "takes one URL; several seed URLs need --redis-cluster",
            ));
        }
        if self.redis.len() > 64 {
            return Err(invalid("--redis", "lists at most 64 seed URLs"));
        }
        let rules_path = self
            .rules
            .ok_or_else(|| invalid("--rules", "is required"))?;
        let rules = load_rules(&rules_path)?;
        if self.lease_ms < 300 {
            return Err(invalid("--lease-ms", "must be at least 300"));
        }
        if self.bus_shards == 0 {
            return Err(invalid("--bus-shards", "must be at least 1"));
        }
        if self.batch_max == 0 || self.batch_max > 100_000 {
            return Err(invalid("--batch-max", "must be between 1 and 100000"));
        }
        if self.max_event_bytes < 1024 {
            return Err(invalid("--max-event-bytes", "must be at least 1024"));
        }
        if self.max_await_ms == 0 {
            return Err(invalid("--max-await-ms", "must be at least 1"));
        }
        if self.collection_max_docs == 0 || self.collection_max_docs > 100_000 {
            return Err(invalid(
                "--collection-max-docs",
                "must be between 1 and 100000",
            ));
        }
        if self.collection_max_doc_bytes < 64 || self.collection_max_doc_bytes > 16 << 20 {
            return Err(invalid(
                "--collection-max-doc-bytes",
                "must be between 64 and 16777216",
            ));
        }
        if self.collection_cache_rooms == 0 {
            return Err(invalid("--collection-cache-rooms", "must be at least 1"));
        }
        for c in rules.scopes.iter().flat_map(|s| &s.collections) {
            if let Some(limit) = c.spec.limit {
                if usize::try_from(limit).unwrap_or(usize::MAX) > self.collection_max_docs {
                    return Err(ConfigError::Invalid {
                        option: "--rules".into(),
                        message: format!(
                            "collection `{}`: field `limit`: {limit} exceeds --collection-max-docs ({})",
                            c.name, self.collection_max_docs
                        ),
                    });
                }
            }
        }
        let router_id = match self.router_id {
            Some(id) if id.is_empty() || id.len() > 128 => {
                return Err(invalid("--router-id", "must be 1-128 characters"));
            }
            Some(id) => id,
            None => format!("router-{:08x}", rand::random::<u32>()),
        };
        Ok(RouterConfig {
            mongo_uri: mongo,
            redis_urls: self.redis,
            redis_cluster: self.redis_cluster,
            rules,
            admin_listen: self.admin_listen,
            router_id,
            bus_shards: self.bus_shards,
            history_size: self.history_size,
            history_ttl: Duration::from_secs(self.history_ttl_secs.max(1)),
            stream: StreamSettings {
                batch_max: self.batch_max,
                max_event_bytes: self.max_event_bytes,
                checkpoint_interval: Duration::from_millis(self.checkpoint_interval_ms),
                max_await: Duration::from_millis(self.max_await_ms),
                resync_max_docs: self.resync_max_docs,
                lease_ttl: Duration::from_millis(self.lease_ms),
                collection: CollectionSettings {
                    max_docs: self.collection_max_docs,
                    max_doc_bytes: self.collection_max_doc_bytes,
                    cache_rooms: self.collection_cache_rooms,
                },
            },
            metrics: !self.no_metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use herald_service::config::ConfigError;

    use super::RouterArgs;

    fn error_of(args: &[&str]) -> (String, String) {
        let mut argv = vec![
            "herald-router",
            "--mongo",
            "mongodb://m",
            "--rules",
            "/nonexistent",
        ];
        argv.extend_from_slice(args);
        match RouterArgs::try_parse_from(argv).unwrap().into_config() {
            Err(ConfigError::Invalid { option, message }) => (option, message),
            Err(other) => ("other".into(), other.to_string()),
            Ok(_) => panic!("accepted {args:?}"),
        }
    }

    #[test]
    fn several_redis_urls_need_cluster_mode() {
        let (option, message) = error_of(&["--redis", "redis://a:1,redis://b:2"]);
        assert_eq!(option, "--redis");
        assert!(message.contains("--redis-cluster"), "{message}");
        // With --redis-cluster the URLs pass; the next problem is the rules file.
        let (option, _) = error_of(&["--redis-cluster", "--redis", "redis://a:1,redis://b:2"]);
        assert_ne!(option, "--redis");
        let (option, _) = error_of(&["--redis-cluster", "--redis", "redis://a:1,http://b:2"]);
        assert_eq!(option, "--redis");
        let (option, _) = error_of(&[]);
        assert_eq!(option, "--redis");
    }

    #[test]
    fn a_collection_limit_over_the_set_bound_names_the_collection_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.toml");
        std::fs::write(
            &rules,
            "[[scope]]\nname = \"shop\"\ndb = \"shop\"\n\n[[collection]]\nname = \"top\"\nscope = \"shop\"\nns = \"shop.orders\"\nroom = \"orders:top\"\nsort = \"n\"\nlimit = 50\n",
        )
        .unwrap();
        let argv = |max: &str| {
            vec![
                "herald-router".to_owned(),
                "--mongo".into(),
                "mongodb://m".into(),
                "--redis".into(),
                "redis://r:1".into(),
                "--rules".into(),
                rules.display().to_string(),
                "--collection-max-docs".into(),
                max.into(),
            ]
        };
        match RouterArgs::try_parse_from(argv("10"))
            .unwrap()
            .into_config()
        {
            Err(ConfigError::Invalid { option, message }) => {
                assert_eq!(option, "--rules");
                assert_eq!(
                    message,
                    "collection `top`: field `limit`: 50 exceeds --collection-max-docs (10)"
                );
            }
            other => panic!("accepted: {other:?}"),
        }
        let ok = RouterArgs::try_parse_from(argv("50"))
            .unwrap()
            .into_config();
        assert_eq!(ok.unwrap().stream.collection.max_docs, 50);
        let (option, _) = error_of(&["--redis", "redis://r:1", "--collection-max-docs", "0"]);
        assert_eq!(option, "--rules", "the rules file is read first");
    }

    #[test]
    fn a_config_file_gives_one_url_or_a_list() {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(deserialize_with = "crate::config::urls::one_or_many")]
            redis: Vec<String>,
        }
        let one: File = toml::from_str(r#"redis = "redis://a:1""#).unwrap();
        assert_eq!(one.redis, ["redis://a:1"]);
        let many: File = toml::from_str(r#"redis = ["redis://a:1", "redis://b:2"]"#).unwrap();
        assert_eq!(many.redis, ["redis://a:1", "redis://b:2"]);
        assert!(toml::from_str::<File>("redis = 3").is_err());
    }
}
