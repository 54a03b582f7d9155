//! Scale-out: several `herald-gateway` processes on one Redis (standalone or
//! a 3-master cluster), with clients spread over them, through reconnects,
//! `kill -9`, `SIGSTOP`, a Redis restart without persistence, garbage in a
//! shard stream and a Redis outage.
//!
//! Every client checks the protocol's delivery rule as it reads: per room,
//! offsets are consecutive, except right after a `subscribed` with
//! `recovered: false` (then a snapshot follows). A message that skips ahead
//! or repeats without such a reset fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use herald_protocol::native::ClientFrame;
use herald_protocol::native::ServerFrame;
use herald_protocol::{Position, RoomName};
use herald_tests::gateway::GatewayProc;
use herald_tests::redis::{RedisCluster, RedisServer, cli};
use herald_tests::ws::{Client, Received};
use serde_json::json;
use tokio::time::Instant;

/// Upper bound on any wait of these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Shards of a standalone deployment (the gateway default).
const SHARDS: u64 = 64;

/// A gateway on the Redis bus at `urls` (comma-separated).
fn gateway(urls: &str, node: &str, extra: &[&str]) -> GatewayProc {
    let mut args = vec![
        "--redis-url",
        urls,
        "--node-id",
        node,
        "--demo-rate",
        "0",
        "--log",
        "info",
        // Access is not what these tests are about (auth.rs is): every
        // room is public, the explicit opt-out of the default.
        "--public-rooms",
        "*",
    ];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

/// `shard(room)` of `docs/adapter-protocol.md` §2 (FNV-1a 64 mod S).
fn shard_of(room: &str, shards: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in room.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % shards
}

/// What one client saw of one room.
#[derive(Debug, Default)]
struct RoomLog {
    /// The epoch of the latest `subscribed`.
    epoch: String,
    /// Offset of the last message, or the `subscribed` offset when none since.
    last: u64,
    /// After a reset: snapshot messages (offset <= this) may follow.
    snapshot_until: Option<u64>,
    /// Offsets of messages received in the current epoch, in order.
    seen: Vec<u64>,
    /// `subscribed` frames with `recovered: false`.
    resets: usize,
}

/// A client that checks the delivery rule on every frame.
struct Tracker {
    /// The socket.
    client: Client,
    /// Per room.
    rooms: BTreeMap<String, RoomLog>,
    /// Next request id.
    next_id: u64,
    /// The server closed the connection.
    closed: bool,
    /// A name for messages.
    name: String,
}

impl Tracker {
    async fn connect(url: &str, name: &str) -> Self {
        let (client, _) = Client::connect(url).await;
        Self {
            client,
            rooms: BTreeMap::new(),
            next_id: 1,
            closed: false,
            name: name.to_owned(),
        }
    }

    /// Subscribes and waits for the `subscribed` reply; returns `recovered`.
    async fn subscribe(&mut self, room: &str, since: Option<Position>) -> bool {
        let id = self.next_id;
        self.next_id += 1;
        self.client
            .send(&ClientFrame::Subscribe {
                room: RoomName::new(room).unwrap(),
                since,
                leave_others: false,
                token: None,
                id: Some(id),
            })
            .await;
        let deadline = Instant::now() + WAIT;
        loop {
            let f = self.next(deadline).await.expect("open connection");
            let done = matches!(&f, ServerFrame::Subscribed { id: Some(i), .. } if *i == id);
            let recovered = matches!(
                &f,
                ServerFrame::Subscribed {
                    recovered: true,
                    ..
                }
            );
            self.apply(f);
            if done {
                return recovered;
            }
        }
    }

    /// The next frame, or `None` once closed.
    async fn next(&mut self, deadline: Instant) -> Option<ServerFrame> {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.client.recv()).await {
            Ok(Received::Frame(f)) => Some(f),
            Ok(Received::Closed(_)) => {
                self.closed = true;
                None
            }
            Err(_) => panic!("{}: timed out; state {:?}", self.name, self.rooms),
        }
    }

    /// Applies one frame, checking the delivery rule.
    fn apply(&mut self, f: ServerFrame) {
        match f {
            ServerFrame::Subscribed {
                room,
                epoch,
                offset,
                recovered,
                ..
            } => {
                let log = self.rooms.entry(room.clone()).or_default();
                if recovered {
                    assert_eq!(log.epoch, epoch, "{}: recovered across epochs", self.name);
                    assert!(offset >= log.last, "{}: recovered behind", self.name);
                } else {
                    log.resets += 1;
                    log.epoch = epoch;
                    log.last = offset;
                    log.seen.clear();
                    log.snapshot_until = Some(offset);
                }
            }
            ServerFrame::Message {
                room, offset, data, ..
            } => {
                let name = &self.name;
                let log = self
                    .rooms
                    .get_mut(&room)
                    .unwrap_or_else(|| panic!("{name}: message of unsubscribed {room}"));
                assert_eq!(
                    data["n"],
                    json!(offset),
                    "{name}: payload of {room}:{offset}"
                );
                match log.snapshot_until {
                    Some(until) if offset <= until => {
                        assert!(
                            log.seen.last().is_none_or(|&l| l < offset),
                            "{name}: snapshot of {room} out of order at {offset}: {log:?}"
                        );
                    }
                    _ => {
                        log.snapshot_until = None;
                        assert_eq!(
                            offset,
                            log.last + 1,
                            "{name}: {room} skipped or repeated without a reset: {log:?}"
                        );
                    }
                }
                log.last = log.last.max(offset);
                log.seen.push(offset);
            }
            ServerFrame::Error { code, reason, .. } => {
                panic!("{}: error {code:?} {reason}", self.name)
            }
            _ => {}
        }
    }

    /// Reads until `done` holds or the connection closes; returns `false` when closed.
    async fn until(&mut self, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            match self.next(deadline).await {
                Some(f) => self.apply(f),
                None => return false,
            }
        }
        true
    }

    /// Reads until every room of `want` reached its offset.
    async fn until_offsets(&mut self, want: &BTreeMap<String, u64>) -> bool {
        let want = want.clone();
        self.until(move |t| {
            t.rooms
                .iter()
                .all(|(r, l)| want.get(r).is_none_or(|&w| l.last >= w))
        })
        .await
    }

    /// The position to resume `room` from.
    fn position(&self, room: &str) -> Position {
        let l = &self.rooms[room];
        Position {
            epoch: l.epoch.clone(),
            offset: l.last,
        }
    }

    /// Sends a ping and reads up to its pong; `false` when closed.
    async fn ping(&mut self) -> bool {
        let id = self.next_id;
        self.next_id += 1;
        self.client.send(&ClientFrame::Ping { id: Some(id) }).await;
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next(deadline).await {
                Some(ServerFrame::Pong { id: Some(i) }) if i == id => return true,
                Some(f) => self.apply(f),
                None => return false,
            }
        }
    }
}

/// `room:<i>` names.
fn rooms(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

/// Publishes `n` = `from..=to` to `room` through `gw`.
async fn publish(gw: &GatewayProc, room: &str, n: u64) -> serde_json::Value {
    gw.publish(room, "update", json!({ "n": n })).await
}

/// Publishes `per_room` messages to each room, round-robin over rooms and
/// over the gateways' HTTP APIs. Message `n` of a room has `data.n == n`.
async fn publish_round_robin(gws: &[&GatewayProc], rooms: &[String], from: u64, to: u64) {
    let mut i = 0;
    for n in from..=to {
        for r in rooms {
            publish(gws[i % gws.len()], r, n).await;
            i += 1;
        }
    }
}

/// Three gateways, four clients each, every client in 2 or 3 of 6 rooms;
/// 300 publications through all three APIs: everyone gets exactly theirs, in order.
async fn exactly_once_across_three_gateways(urls: &str, extra: &[&str]) {
    let gws: Vec<GatewayProc> = (0..3)
        .map(|i| gateway(urls, &format!("gw-{i}"), extra))
        .collect();
    let names = rooms("eo", 6);
    let mut clients = Vec::new();
    for c in 0..12 {
        let gw = &gws[c % 3];
        let mut t = Tracker::connect(&gw.ws_url(), &format!("client{c}@gw{}", c % 3)).await;
        let mine: Vec<&String> = names
            .iter()
            .enumerate()
            .filter(|(r, _)| (r + c) % 3 == 0 || (r * 5 + c) % 4 == 0)
            .map(|(_, n)| n)
            .collect();
        for r in &mine {
            assert!(
                !t.subscribe(r, None).await,
                "a fresh subscription is a snapshot"
            );
        }
        clients.push(t);
    }
    let refs: Vec<&GatewayProc> = gws.iter().collect();
    publish_round_robin(&refs, &names, 1, 50).await;
    let want: BTreeMap<String, u64> = names.iter().map(|r| (r.clone(), 50)).collect();
    let readers = clients.into_iter().map(|mut t| {
        let want = want.clone();
        tokio::spawn(async move {
            assert!(t.until_offsets(&want).await, "{}: closed", t.name);
            assert!(t.ping().await);
            t
        })
    });
    for t in futures_util::future::join_all(readers).await {
        let t = t.unwrap();
        assert!(!t.rooms.is_empty());
        for (r, l) in &t.rooms {
            assert_eq!(l.seen, (1..=50).collect::<Vec<_>>(), "{} in {r}", t.name);
            assert_eq!(l.resets, 1, "{} in {r}: only the initial snapshot", t.name);
        }
    }
}

#[tokio::test]
async fn three_gateways_deliver_every_message_exactly_once_in_order() {
    let redis = RedisServer::start();
    exactly_once_across_three_gateways(&redis.url(), &[]).await;
}

#[tokio::test]
async fn three_gateways_on_a_redis_cluster_deliver_exactly_once() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls().join(",");
    exactly_once_across_three_gateways(&urls, &["--redis-cluster", "--bus-shards", "16"]).await;
}

#[tokio::test]
async fn reconnecting_to_another_gateway_with_since_loses_and_repeats_nothing() {
    let redis = RedisServer::start();
    let a = gateway(&redis.url(), "gw-a", &[]);
    let b = gateway(&redis.url(), "gw-b", &[]);
    let room = "resume:1";
    let mut t = Tracker::connect(&a.ws_url(), "first").await;
    t.subscribe(room, None).await;
    for n in 1..=20 {
        publish(if n % 2 == 0 { &a } else { &b }, room, n).await;
    }
    // Take exactly ten, then vanish (the rest may sit unread in buffers).
    assert!(t.until(|t| t.rooms[room].last >= 10).await);
    let mut pos = t.position(room);
    pos.offset = 10;
    drop(t);
    for n in 21..=40 {
        publish(&a, room, n).await;
    }
    let mut t2 = Tracker::connect(&b.ws_url(), "second").await;
    t2.rooms.insert(
        room.into(),
        RoomLog {
            epoch: pos.epoch.clone(),
            last: 10,
            ..RoomLog::default()
        },
    );
    assert!(t2.subscribe(room, Some(pos)).await, "recovered");
    for n in 41..=50 {
        publish(&a, room, n).await;
    }
    assert!(t2.until(|t| t.rooms[room].last >= 50).await);
    assert!(t2.ping().await, "nothing after 50");
    assert_eq!(t2.rooms[room].seen, (11..=50).collect::<Vec<_>>());
    assert_eq!(t2.rooms[room].resets, 0);
}

#[tokio::test]
async fn clients_of_a_killed_gateway_recover_everything_elsewhere() {
    let redis = RedisServer::start();
    let gws: Vec<GatewayProc> = (0..3)
        .map(|i| gateway(&redis.url(), &format!("gw-{i}"), &[]))
        .collect();
    let names = rooms("kill", 4);
    let mut victims = Vec::new();
    for c in 0..4 {
        let mut t = Tracker::connect(&gws[2].ws_url(), &format!("victim{c}")).await;
        t.subscribe(&names[c], None).await;
        t.subscribe(&names[(c + 1) % 4], None).await;
        victims.push(t);
    }
    let admin = [gws[0].admin_url(), gws[1].admin_url()];
    let names2 = names.clone();
    // Publish in the background through the survivors' APIs.
    let publisher = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for n in 1..=60u64 {
            for (i, r) in names2.iter().enumerate() {
                let resp = http
                    .post(format!("{}/api/publish", admin[(i + n as usize) % 2]))
                    .json(&json!({ "room": r, "event": "update", "data": { "n": n } }))
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success());
            }
            if n % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    // Kill the gateway once every victim has seen something.
    for t in &mut victims {
        let mine: Vec<String> = t.rooms.keys().cloned().collect();
        assert!(t.until(|t| mine.iter().all(|r| t.rooms[r].last >= 3)).await);
    }
    let mut gws = gws;
    let dead = gws.pop().unwrap();
    dead.proc.signal("KILL");
    let mut resumed = Vec::new();
    for (c, mut t) in victims.into_iter().enumerate() {
        assert!(
            !t.until(|_| false).await,
            "the connection dies with its gateway"
        );
        let gw = &gws[c % 2];
        let mut t2 = Tracker::connect(&gw.ws_url(), &format!("resumed{c}")).await;
        for (r, l) in &t.rooms {
            t2.rooms.insert(
                r.clone(),
                RoomLog {
                    epoch: l.epoch.clone(),
                    last: l.last,
                    seen: l.seen.clone(),
                    ..RoomLog::default()
                },
            );
        }
        let rooms: Vec<String> = t.rooms.keys().cloned().collect();
        for r in &rooms {
            let pos = t.position(r);
            assert!(t2.subscribe(r, Some(pos)).await, "{r} recovered");
        }
        t.rooms.clear();
        resumed.push(t2);
    }
    publisher.await.unwrap();
    for t in &mut resumed {
        let want: BTreeMap<String, u64> = t.rooms.keys().map(|r| (r.clone(), 60)).collect();
        assert!(t.until_offsets(&want).await);
        assert!(t.ping().await);
        for (r, l) in &t.rooms {
            assert_eq!(l.seen, (1..=60).collect::<Vec<_>>(), "{} in {r}", t.name);
            assert_eq!(l.resets, 0);
        }
    }
}

#[tokio::test]
async fn a_stopped_gateway_catches_up_and_the_others_keep_delivering() {
    let redis = RedisServer::start();
    let a = gateway(&redis.url(), "gw-a", &[]);
    let b = gateway(&redis.url(), "gw-b", &[]);
    let room = "stop:1";
    let mut on_a = Tracker::connect(&a.ws_url(), "on-a").await;
    let mut on_b = Tracker::connect(&b.ws_url(), "on-b").await;
    on_a.subscribe(room, None).await;
    on_b.subscribe(room, None).await;
    for n in 1..=10 {
        publish(&a, room, n).await;
    }
    assert!(on_b.until(|t| t.rooms[room].last >= 10).await);
    b.proc.signal("STOP");
    let stopped = Instant::now();
    // While b is frozen, a keeps publishing and delivering.
    for n in 11..=60 {
        publish(&a, room, n).await;
    }
    assert!(on_a.until(|t| t.rooms[room].last >= 60).await);
    let left = Duration::from_secs(2).saturating_sub(stopped.elapsed());
    tokio::time::sleep(left).await;
    b.proc.signal("CONT");
    for n in 61..=70 {
        publish(&a, room, n).await;
    }
    assert!(on_a.until(|t| t.rooms[room].last >= 70).await);
    assert!(
        on_b.until(|t| t.rooms[room].last >= 70).await,
        "b's client stays"
    );
    let log = &on_b.rooms[room];
    // Either everything in order, or an explicit reset followed by a snapshot.
    if log.resets == 1 {
        assert_eq!(log.seen, (1..=70).collect::<Vec<_>>());
    } else {
        assert_eq!(log.seen.last(), Some(&70));
    }
    assert_eq!(on_a.rooms[room].seen, (1..=70).collect::<Vec<_>>());
}

/// `XADD` with raw byte arguments.
fn xadd_raw(port: u16, args: &[&[u8]]) {
    let out = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args.iter().map(|a| OsStr::from_bytes(a)))
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains('-'), "XADD answered an ID: {text}");
}

#[tokio::test]
async fn garbage_in_a_shard_stream_is_skipped_and_counted() {
    let redis = RedisServer::start();
    let gw = gateway(&redis.url(), "gw-g", &[]);
    let room = "garbage:1";
    let mut t = Tracker::connect(&gw.ws_url(), "garbage").await;
    t.subscribe(room, None).await;
    publish(&gw, room, 1).await;
    assert!(t.until(|t| t.rooms[room].last >= 1).await);
    let before =
        herald_tests::gateway::metric_sum(&gw.metrics().await, "herald_bus_invalid_frames_total")
            .unwrap_or(0.0);
    let key = format!("herald:{{{}}}:stream", shard_of(room, SHARDS));
    let epoch = t.rooms[room].epoch.clone();
    // No r/e/o fields at all.
    cli(redis.port, &["XADD", &key, "*", "f", "garbage"]);
    // An unknown version byte.
    let k = key.as_bytes();
    let r = room.as_bytes();
    let e = epoch.as_bytes();
    xadd_raw(
        redis.port,
        &[
            b"XADD",
            k,
            b"*",
            b"r",
            r,
            b"e",
            e,
            b"o",
            b"2",
            b"f",
            b"\x09\x80",
        ],
    );
    // A truncated version-1 frame: a map of five with one key.
    xadd_raw(
        redis.port,
        &[
            b"XADD",
            k,
            b"*",
            b"r",
            r,
            b"e",
            e,
            b"o",
            b"2",
            b"f",
            b"\x01\x85\xa1t",
        ],
    );
    // The stream keeps flowing.
    publish(&gw, room, 2).await;
    publish(&gw, room, 3).await;
    assert!(t.until(|t| t.rooms[room].last >= 3).await);
    assert!(t.ping().await);
    assert_eq!(t.rooms[room].seen, vec![1, 2, 3]);
    let deadline = Instant::now() + WAIT;
    loop {
        let now = herald_tests::gateway::metric_sum(
            &gw.metrics().await,
            "herald_bus_invalid_frames_total",
        )
        .unwrap_or(0.0);
        if now - before >= 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "invalid frames counted: {now} (was {before})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = gw.proc.log_text();
    assert!(
        log.contains("invalid bus entry"),
        "skipped entries are logged"
    );
}

async fn status(url: &str) -> Option<u16> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    c.get(url).send().await.ok().map(|r| r.status().as_u16())
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis goes away (readiness drops, clients stay), then comes back empty:
/// readiness returns, and every client learns of the new epoch with a reset
/// and a fresh snapshot, never a silent gap.
#[tokio::test]
async fn redis_outage_and_restart_without_persistence() {
    let mut redis = RedisServer::start();
    let a = gateway(&redis.url(), "gw-a", &[]);
    let b = gateway(&redis.url(), "gw-b", &[]);
    let names = rooms("restart", 2);
    let mut ta = Tracker::connect(&a.ws_url(), "on-a").await;
    let mut tb = Tracker::connect(&b.ws_url(), "on-b").await;
    for r in &names {
        ta.subscribe(r, None).await;
        tb.subscribe(r, None).await;
    }
    publish_round_robin(&[&a, &b], &names, 1, 10).await;
    let ten: BTreeMap<String, u64> = names.iter().map(|r| (r.clone(), 10)).collect();
    assert!(ta.until_offsets(&ten).await && tb.until_offsets(&ten).await);
    let old_epoch = ta.rooms[&names[0]].epoch.clone();
    for gw in [&a, &b] {
        assert_eq!(
            status(&format!("{}/readyz", gw.admin_url())).await,
            Some(200)
        );
        assert_eq!(gw.metric("herald_gateway_bus_up", "").await, Some(1.0));
    }

    redis.kill();
    for gw in [&a, &b] {
        let url = format!("{}/readyz", gw.admin_url());
        wait_for("readyz 503", async || status(&url).await == Some(503)).await;
        wait_for("bus_up 0", async || {
            gw.metric("herald_gateway_bus_up", "").await == Some(0.0)
        })
        .await;
    }
    assert!(ta.ping().await && tb.ping().await, "clients stay connected");

    redis.restart();
    for gw in [&a, &b] {
        let url = format!("{}/readyz", gw.admin_url());
        wait_for("readyz 200", async || status(&url).await == Some(200)).await;
        wait_for("bus_up 1", async || {
            gw.metric("herald_gateway_bus_up", "").await == Some(1.0)
        })
        .await;
    }
    publish_round_robin(&[&a, &b], &names, 1, 5).await;
    let new_epoch = publish(&a, &names[0], 6).await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    publish(&b, &names[1], 6).await;
    assert_ne!(new_epoch, old_epoch, "a new epoch after data loss");
    for t in [&mut ta, &mut tb] {
        let old = old_epoch.clone();
        assert!(
            t.until(move |t| t.rooms.values().all(|l| l.epoch != old && l.last >= 6))
                .await
        );
        assert!(t.ping().await);
        for (r, l) in &t.rooms {
            assert!(l.resets >= 2, "{} in {r}: reset for the new epoch", t.name);
            assert_eq!(l.seen.last(), Some(&6), "{} in {r}", t.name);
        }
        assert_eq!(t.rooms[&names[0]].epoch, new_epoch);
    }
}

/// Publishes through `via` and checks a client of `to` receives it.
async fn relay_works(via: &GatewayProc, to: &GatewayProc, room: &str) {
    let mut t = Tracker::connect(&to.ws_url(), "relay").await;
    t.subscribe(room, None).await;
    for n in 1..=3 {
        publish(via, room, n).await;
    }
    assert!(t.until(|t| t.rooms[room].last >= 3).await);
    assert_eq!(t.rooms[room].seen, vec![1, 2, 3]);
}

#[tokio::test]
async fn password_and_acl_user_urls_authenticate() {
    let redis = RedisServer::start();
    let port = redis.port;
    cli(
        port,
        &[
            "ACL", "SETUSER", "herald", "on", ">hunter2", "~*", "&*", "+@all",
        ],
    );
    cli(port, &["CONFIG", "SET", "requirepass", "s3cret"]);
    assert!(
        cli(port, &["PING"]).contains("NOAUTH"),
        "the server demands a password"
    );
    let a = gateway(&format!("redis://:s3cret@127.0.0.1:{port}"), "gw-pass", &[]);
    let b = gateway(
        &format!("redis://herald:hunter2@127.0.0.1:{port}"),
        "gw-acl",
        &[],
    );
    relay_works(&a, &b, "auth:1").await;
    relay_works(&b, &a, "auth:2").await;
}

#[tokio::test]
async fn rediss_urls_connect_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "self-signed certificate");
    let tls_port = herald_tests::redis::free_port().to_string();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let redis = RedisServer::start_with(
        herald_tests::redis::free_port(),
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cert,
            "--tls-auth-clients",
            "no",
        ],
    );
    let url = format!("rediss://127.0.0.1:{tls_port}/#insecure");
    let a = gateway(&url, "gw-tls-a", &[]);
    let b = gateway(&url, "gw-tls-b", &[]);
    relay_works(&a, &b, "tls:1").await;
    // The gateways' connections arrived on the TLS port.
    let clients = cli(redis.port, &["CLIENT", "LIST"]);
    let on_tls = clients
        .lines()
        .filter(|l| l.contains(&format!("laddr=127.0.0.1:{tls_port} ")))
        .count();
    assert!(on_tls >= 4, "gateway connections over TLS: {clients}");
    assert!(
        !clients
            .lines()
            .any(|l| l.contains("name=") && l.contains("cmd=xread") && !l.contains(&tls_port)),
        "no reader on the plain port"
    );
}
