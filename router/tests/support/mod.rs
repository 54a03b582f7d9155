//! Shared harness of the router's integration tests: an in-process
//! `herald-mongo-wire` server driven by the real `mongodb` driver, a real
//! `redis-server`, the `herald-router` binary as a child process, and a
//! verifier reading the rooms back through the gateway's `RedisBus`.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, missing_docs)]

pub use herald_tests::redis;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_bus::Bus;
use herald_bus::redis::{RedisBus, RedisBusConfig};
use herald_mongo_wire::{Config, Handle, MongoWireServer};
use herald_protocol::RoomName;
use mongodb::bson::Document;

pub use self::redis::{RedisServer, free_port};

pub mod cluster;
pub mod live;
pub mod ops;

/// History kept per room in these tests: enough to read every message back.
pub const HISTORY: usize = 5000;

pub const RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"
full_document = "updateLookup"

[[rule]]
name = "by_room"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update", "replace"]
rooms = ["room:{fullDocument.room}"]
event = "dashboard:update"
payload = "full_document"

[[rule]]
name = "all"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update", "replace", "delete"]
filter = { "documentKey._id" = { "$exists" = true } }
rooms = ["orders:all"]
event = "order:change"
payload = "event"
"#;

pub struct Env {
    pub mongo: Handle,
    pub redis: RedisServer,
    pub dir: tempfile::TempDir,
    pub rules: PathBuf,
}

impl Env {
    pub async fn start(rules: &str) -> Self {
        Self::start_with(rules, Config::default()).await
    }

    pub async fn start_with(rules: &str, config: Config) -> Self {
        let mongo = MongoWireServer::start(config).await.unwrap();
        let redis = RedisServer::start();
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

    pub async fn client(&self) -> mongodb::Client {
        mongodb::Client::with_uri_str(self.mongo.uri())
            .await
            .unwrap()
    }

    pub async fn orders(&self) -> mongodb::Collection<Document> {
        self.client().await.database("shop").collection("orders")
    }

    pub fn router(&self, id: &str, extra: &[&str]) -> RouterProc {
        let mut args: Vec<String> = vec![
            "--mongo".into(),
            self.mongo.uri(),
            "--redis".into(),
            self.redis.url(),
            "--rules".into(),
            self.rules.display().to_string(),
            "--router-id".into(),
            id.into(),
            "--history-size".into(),
            HISTORY.to_string(),
            "--bus-shards".into(),
            "8".into(),
            "--max-await-ms".into(),
            "200".into(),
            "--log".into(),
            "info,herald_router=debug".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        RouterProc::spawn(&args, &self.dir.path().join(format!("router-{id}.log")))
    }

    pub async fn verifier(&self) -> Arc<RedisBus> {
        RedisBus::connect(
            RedisBusConfig {
                urls: vec![self.redis.url()],
                shards: 8,
                history_size: HISTORY,
                node_id: "verifier".into(),
                ..RedisBusConfig::default()
            },
            None,
        )
        .await
        .unwrap()
    }
}

pub fn router_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_herald-router"))
}

pub struct RouterProc {
    pub child: Child,
    pub admin: SocketAddr,
    pub log: PathBuf,
}

impl RouterProc {
    pub fn spawn(args: &[String], log: &std::path::Path) -> Self {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(router_bin())
            .args(args)
            .arg("--admin-listen")
            .arg(admin.to_string())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Self {
            child,
            admin,
            log: log.to_owned(),
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn term(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin);
        match tokio::time::timeout(Duration::from_secs(2), http_get(&url)).await {
            Ok(Some(t)) => t,
            _ => String::new(),
        }
    }

    pub async fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        metric_value(&self.metrics().await, name, labels)
    }
}

impl Drop for RouterProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A minimal HTTP/1.0 GET over a TCP stream.
async fn http_get(url: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = tokio::net::TcpStream::connect(host).await.ok()?;
    s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

pub fn metric_value(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        let matches = if labels.is_empty() {
            k == name
        } else {
            k.starts_with(name) && k[name.len()..].starts_with('{') && k.contains(labels)
        };
        matches.then(|| v.parse().ok()).flatten()
    })
}

/// A room's stored messages as (event, data), oldest first.
pub async fn room(bus: &RedisBus, room: &str) -> Vec<(String, serde_json::Value)> {
    let name = RoomName::new(room).unwrap();
    match bus.history(&name, None, HISTORY).await {
        Ok(h) => h
            .messages
            .iter()
            .map(|m| (m.event.clone(), m.data.to_value()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The `seq` field of each message held for `room`, oldest first.
pub async fn room_seqs(bus: &RedisBus, room_name: &str) -> Vec<i64> {
    room(bus, room_name)
        .await
        .iter()
        .map(|(_, d)| d["seq"].as_i64().unwrap())
        .collect()
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
