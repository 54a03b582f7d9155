//! The harness on a real local 3-master Redis Cluster: the router runs with
//! `--redis-cluster` and seed URLs; a live bus subscriber collects what the
//! bus delivers.

use std::path::PathBuf;
use std::sync::Arc;

use herald_bus::redis::{RedisBus, RedisBusConfig};
use herald_bus::{Bus, Message, Sink};
use herald_mongo_wire::{Config, Handle, MongoWireServer};
use herald_protocol::RoomName;
use herald_protocol::bus::Control;
use herald_tests::redis::RedisCluster;
use mongodb::bson::Document;
use parking_lot::Mutex;

use super::{HISTORY, RouterProc};

/// Bus shards of these tests: spread over the three masters' slots.
pub const SHARDS: u32 = 8;

pub struct ClusterEnv {
    pub mongo: Handle,
    pub redis: RedisCluster,
    pub dir: tempfile::TempDir,
    pub rules: PathBuf,
}

impl ClusterEnv {
    pub async fn start(rules: &str) -> Self {
        let mongo = MongoWireServer::start(Config::default()).await.unwrap();
        let redis = RedisCluster::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, rules).unwrap();
        Self {
            mongo,
            redis,
            dir,
            rules: path,
        }
    }

    pub async fn orders(&self) -> mongodb::Collection<Document> {
        mongodb::Client::with_uri_str(self.mongo.uri())
            .await
            .unwrap()
            .database("shop")
            .collection("orders")
    }

    pub fn router(&self, id: &str, extra: &[&str]) -> RouterProc {
        let mut args: Vec<String> = vec![
            "--mongo".into(),
            self.mongo.uri(),
            "--redis-cluster".into(),
            "--redis".into(),
            self.redis.urls().join(","),
            "--rules".into(),
            self.rules.display().to_string(),
            "--router-id".into(),
            id.into(),
            "--history-size".into(),
            HISTORY.to_string(),
            "--bus-shards".into(),
            SHARDS.to_string(),
            "--max-await-ms".into(),
            "200".into(),
            "--log".into(),
            "info,herald_router=debug".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        RouterProc::spawn(&args, &self.dir.path().join(format!("router-{id}.log")))
    }

    fn bus_config(&self, node: &str) -> RedisBusConfig {
        RedisBusConfig {
            urls: self.redis.urls(),
            cluster: true,
            shards: SHARDS,
            history_size: HISTORY,
            node_id: node.into(),
            ..RedisBusConfig::default()
        }
    }

    /// A bus node that reads rooms' history back.
    pub async fn verifier(&self) -> Arc<RedisBus> {
        RedisBus::connect(self.bus_config("verifier"), None)
            .await
            .unwrap()
    }

    /// A bus node subscribed live to `rooms`, collecting every delivery.
    pub async fn subscriber(&self, rooms: &[&str]) -> (Arc<RedisBus>, Arc<Collector>) {
        let bus = RedisBus::connect(self.bus_config("subscriber"), None)
            .await
            .unwrap();
        let sink = Arc::new(Collector::default());
        bus.start(sink.clone()).await.unwrap();
        for r in rooms {
            bus.watch(&RoomName::new(r).unwrap()).await.unwrap();
        }
        (bus, sink)
    }
}

/// A sink that keeps every delivered message.
#[derive(Default)]
pub struct Collector {
    msgs: Mutex<Vec<Arc<Message>>>,
}

impl Collector {
    /// What was delivered to `room`, in delivery order.
    pub fn room(&self, room: &str) -> Vec<Arc<Message>> {
        self.msgs
            .lock()
            .iter()
            .filter(|m| m.room.as_str() == room)
            .cloned()
            .collect()
    }
}

impl Sink for Collector {
    fn deliver(&self, msg: Arc<Message>) {
        self.msgs.lock().push(msg);
    }

    fn control(&self, _cmd: Control) {}

    fn resync_all(&self) {}
}
