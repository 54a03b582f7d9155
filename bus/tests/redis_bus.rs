//! The Redis bus against real `redis-server` processes on free ports.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a test drives real Redis from its own tasks and clocks"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use herald_bus::redis::{LocalPresence, Published, RedisBus, RedisBusConfig};
use herald_bus::{Bus, BusError, Message, Sink};
use herald_protocol::bus::{Control, ControlTarget, Publication};
use herald_protocol::{Position, RoomName};
use herald_tests::redis::{RedisCluster, RedisServer, cli};
use parking_lot::Mutex;
use serde_json::json;

#[derive(Default)]
struct TestSink {
    msgs: Mutex<Vec<Arc<Message>>>,
    controls: Mutex<Vec<Control>>,
    resyncs: AtomicUsize,
}

impl Sink for TestSink {
    fn deliver(&self, msg: Arc<Message>) {
        self.msgs.lock().push(msg);
    }
    fn control(&self, cmd: Control) {
        self.controls.lock().push(cmd);
    }
    fn resync_all(&self) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
    }
}

impl TestSink {
    fn offsets(&self, room: &str) -> Vec<u64> {
        self.msgs
            .lock()
            .iter()
            .filter(|m| m.room.as_str() == room)
            .map(|m| m.offset)
            .collect()
    }
}

struct Counts(HashMap<&'static str, u64>);
impl LocalPresence for Counts {
    fn count(&self, room: &str) -> u64 {
        self.0.get(room).copied().unwrap_or(0)
    }
    fn sessions(&self, _room: &str) -> Vec<String> {
        Vec::new()
    }
    fn connections(&self) -> u64 {
        self.0.values().sum()
    }
}

fn config(urls: Vec<String>, node: &str) -> RedisBusConfig {
    RedisBusConfig {
        urls,
        node_id: node.into(),
        shards: 8,
        history_size: 50,
        block: Duration::from_millis(500),
        heartbeat_interval: Duration::from_millis(200),
        node_ttl: Duration::from_millis(1500),
        probe_interval: Duration::from_millis(300),
        probe_deadline: Duration::from_secs(2),
        command_timeout: Duration::from_millis(1000),
        presence_timeout: Duration::from_secs(2),
        ..RedisBusConfig::default()
    }
}

async fn node(
    cfg: RedisBusConfig,
    presence: Option<Arc<dyn LocalPresence>>,
) -> (Arc<RedisBus>, Arc<TestSink>) {
    let bus = RedisBus::connect(cfg, presence).await.expect("connect");
    let sink = Arc::new(TestSink::default());
    bus.start(sink.clone()).await.expect("start");
    (bus, sink)
}

fn publication(room: &str, n: u64) -> Publication {
    Publication {
        room: room.into(),
        event: "e".into(),
        data: json!({ "n": n }).into(),
        ts_ms: 1,
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
        set: None,
    }
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

/// Polls `ok` every 10 ms for up to 15 s.
async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn eventually_ready(bus: &RedisBus) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !bus.health().ready {
        assert!(
            Instant::now() < deadline,
            "bus never ready: {}",
            bus.health().detail
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A room name whose shard is `shard` (of `bus`'s shards).
fn room_in_shard(bus: &RedisBus, prefix: &str, shard: u32) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|r| bus.shard_of(r) == shard)
        .unwrap()
}

async fn publish_and_deliver(urls: Vec<String>, cluster: bool) {
    let mk = |n: &str| RedisBusConfig {
        cluster,
        ..config(urls.clone(), n)
    };
    let (a, sink_a) = node(mk("a"), None).await;
    let (b, sink_b) = node(mk("b"), None).await;
    let rooms: Vec<String> = (0..4).map(|i| format!("room:{i}")).collect();
    for r in &rooms {
        a.watch(&room(r)).await.unwrap();
        b.watch(&room(r)).await.unwrap();
    }
    // A room in a shard neither node watches (probe rooms included).
    let watched: Vec<u32> = rooms
        .iter()
        .map(|r| a.shard_of(r))
        .chain([a.shard_of("_herald.probe.a"), a.shard_of("_herald.probe.b")])
        .collect();
    let free = (0..8).find(|s| !watched.contains(s)).expect("a free shard");
    let unwatched = room_in_shard(&a, "other:", free);

    const N: u64 = 150;
    for chunk in 0..(N / 50) {
        let mut batch = Vec::new();
        for n in 0..50 {
            for r in &rooms {
                batch.push(publication(r, chunk * 50 + n));
            }
            batch.push(publication(&unwatched, n));
        }
        for r in b.publish(batch).await {
            r.unwrap();
        }
    }
    let want: Vec<u64> = (1..=N).collect();
    for sink in [&sink_a, &sink_b] {
        eventually("every message on both nodes", || {
            rooms.iter().all(|r| sink.offsets(r).len() >= N as usize)
        })
        .await;
        for r in &rooms {
            assert_eq!(
                sink.offsets(r),
                want,
                "room {r}: exactly once, in offset order"
            );
        }
        assert!(
            sink.offsets(&unwatched).is_empty(),
            "unwatched room delivered"
        );
        assert!(
            sink.offsets("_herald.probe.a").is_empty(),
            "probe leaked to the sink"
        );
    }
    // After unwatch, a room is no longer delivered to that node: a
    // sentinel that node still watches, published after the marker, comes
    // through, and the marker does not.
    let sentinel = "sentinel:after-unwatch";
    a.watch(&room(sentinel)).await.unwrap();
    for r in &rooms {
        a.unwatch(&room(r));
    }
    let marker = &rooms[0];
    b.publish(vec![publication(marker, 0)]).await[0]
        .as_ref()
        .unwrap();
    b.publish(vec![publication(sentinel, 0)]).await[0]
        .as_ref()
        .unwrap();
    eventually("b gets the marker", || {
        sink_b.offsets(marker).len() > N as usize
    })
    .await;
    eventually("a gets the sentinel", || {
        !sink_a.offsets(sentinel).is_empty()
    })
    .await;
    assert_eq!(
        sink_a.offsets(marker).len(),
        N as usize,
        "a node that unwatched a room still received it"
    );
    let epochs = |sink: &TestSink| -> Vec<String> {
        let msgs = sink.msgs.lock();
        rooms
            .iter()
            .map(|r| {
                msgs.iter()
                    .find(|m| m.room.as_str() == r.as_str())
                    .unwrap()
                    .epoch
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        epochs(&sink_a),
        epochs(&sink_b),
        "both nodes see each room's one epoch"
    );
    eventually_ready(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_receive_every_watched_message_once_in_order() {
    let server = RedisServer::start();
    publish_and_deliver(vec![server.url()], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    publish_and_deliver(cluster.urls(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_recovers_exactly_the_missed_messages_or_says_it_cannot() {
    let server = RedisServer::start();
    let (bus, _sink) = node(
        RedisBusConfig {
            history_size: 3,
            ..config(vec![server.url()], "h")
        },
        None,
    )
    .await;
    let r = room("a");
    // A room read before any publish gets its epoch then, and keeps it.
    let fresh = bus.history(&r, None, 10).await.unwrap();
    assert_eq!(
        (fresh.offset, fresh.messages.len(), fresh.recovered),
        (0, 0, false)
    );
    let res = bus
        .publish((1..=5).map(|n| publication("a", n)).collect())
        .await;
    let offsets: Vec<u64> = res.iter().map(|r| r.as_ref().unwrap().offset).collect();
    assert_eq!(offsets, vec![1, 2, 3, 4, 5]);
    let epoch = res[0].as_ref().unwrap().epoch.clone();
    assert_eq!(
        *fresh.epoch, *epoch,
        "publish kept the epoch history created"
    );
    let at = |offset| Position {
        epoch: epoch.clone(),
        offset,
    };
    let offs = |h: &herald_bus::History| h.messages.iter().map(|m| m.offset).collect::<Vec<_>>();

    let h = bus.history(&r, Some(&at(3)), 1).await.unwrap();
    assert!(h.recovered);
    assert_eq!(offs(&h), vec![4, 5]);
    assert_eq!(h.messages[0].data, json!({"n": 4}));

    let h = bus.history(&r, Some(&at(5)), 1).await.unwrap();
    assert!(h.recovered && h.messages.is_empty());

    let h = bus.history(&r, Some(&at(1)), 1).await.unwrap();
    assert!(!h.recovered, "offset 2 is gone from a 3-message history");
    assert_eq!(offs(&h), vec![5]);

    let h = bus
        .history(
            &r,
            Some(&Position {
                epoch: "other".into(),
                offset: 4,
            }),
            2,
        )
        .await
        .unwrap();
    assert!(!h.recovered);
    assert_eq!(offs(&h), vec![4, 5]);

    let h = bus.history(&r, None, 1).await.unwrap();
    assert_eq!((h.offset, h.recovered, h.messages.len()), (5, false, 1));

    let h = bus.history(&r, Some(&at(9)), 2).await.unwrap();
    assert!(
        !h.recovered,
        "a position beyond the latest is not recoverable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_fences_are_rejected_and_replays_are_dropped_per_source() {
    let server = RedisServer::start();
    let (bus, _sink) = node(config(vec![server.url()], "f"), None).await;
    let p = |src: &str, pos: &str, fence: u64| Publication {
        src: Some(src.into()),
        src_pos: Some(pos.into()),
        fence: Some(fence),
        set: None,
        ..publication("orders:1", 0)
    };
    let r = bus
        .publish_detailed(vec![p("s1", "8200A1", 5), p("s1", "8200A2", 5)])
        .await;
    assert!(matches!(&r[1], Ok(Published::Stored(pos)) if pos.offset == 2));

    // A lower fence is refused; a higher one moves the mark up.
    let r = bus.publish_detailed(vec![p("s1", "8200A3", 4)]).await;
    assert!(
        matches!(&r[0], Err(BusError::Rejected(m)) if m.contains("stale fence")),
        "{r:?}"
    );
    let r = bus
        .publish_detailed(vec![p("s1", "8200A3", 9), p("s1", "8200A4", 5)])
        .await;
    assert!(
        matches!(&r[0], Ok(Published::Stored(pos)) if pos.offset == 3),
        "{r:?}"
    );
    assert!(
        matches!(&r[1], Err(BusError::Rejected(_))),
        "fence 5 is stale after 9"
    );

    // Replays (equal or older position, byte-wise) are duplicates: no new offset.
    let r = bus
        .publish_detailed(vec![p("s1", "8200A3", 9), p("s1", "8200A2FF", 9)])
        .await;
    for x in &r {
        assert!(
            matches!(x, Ok(Published::Duplicate(pos)) if pos.offset == 3),
            "{x:?}"
        );
    }
    // The Bus trait reports a replay as success at the room's latest position.
    let r = bus.publish(vec![p("s1", "8200A1", 9)]).await;
    assert_eq!(r[0].as_ref().unwrap().offset, 3);
    // Another source's positions are independent; a newer one is stored.
    let r = bus
        .publish_detailed(vec![p("s2", "0001", 1), p("s1", "8200A5", 9)])
        .await;
    assert!(
        matches!(&r[0], Ok(Published::Stored(pos)) if pos.offset == 4),
        "{r:?}"
    );
    assert!(
        matches!(&r[1], Ok(Published::Stored(pos)) if pos.offset == 5),
        "{r:?}"
    );
    // Byte-wise, not numeric and not locale order: "9" > "10", "a" > "B".
    let r = bus
        .publish_detailed(vec![
            p("s3", "9", 1),
            p("s3", "10", 1),
            p("s4", "a", 1),
            p("s4", "B", 1),
        ])
        .await;
    assert!(matches!(&r[1], Ok(Published::Duplicate(_))), "{r:?}");
    assert!(matches!(&r[3], Ok(Published::Duplicate(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_without_persistence_means_a_new_epoch_and_a_resync() {
    let mut server = RedisServer::start();
    let (bus, sink) = node(config(vec![server.url()], "r"), None).await;
    bus.watch(&room("a")).await.unwrap();
    eventually_ready(&bus).await;
    let before = bus
        .publish((1..=3).map(|n| publication("a", n)).collect())
        .await;
    let old_epoch = before[0].as_ref().unwrap().epoch.clone();
    eventually("first messages", || sink.offsets("a") == vec![1, 2, 3]).await;

    server.kill();
    let r = bus.publish(vec![publication("a", 4)]).await;
    assert!(
        matches!(r[0], Err(BusError::Unavailable { .. })),
        "publish during outage: {r:?}"
    );
    eventually("not ready during outage", || !bus.health().ready).await;

    server.restart();
    eventually("resync_all after data loss", || {
        sink.resyncs.load(Ordering::SeqCst) >= 1
    })
    .await;
    eventually_ready(&bus).await;
    let r = bus.publish(vec![publication("a", 5)]).await;
    let pos = r[0].as_ref().unwrap();
    assert_ne!(pos.epoch, old_epoch, "history was lost: new epoch");
    assert_eq!(pos.offset, 1);
    let new_epoch = pos.epoch.clone();
    eventually("delivery resumes", || {
        sink.msgs
            .lock()
            .iter()
            .any(|m| m.room.as_str() == "a" && *m.epoch == *new_epoch && m.offset == 1)
    })
    .await;
}

fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static H: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("recorder")
    })
}

/// Skipped entries counted so far, for one reason or all of them.
fn skipped(reason: Option<&str>) -> u64 {
    prometheus()
        .render()
        .lines()
        .filter(|l| l.starts_with("herald_bus_invalid_frames_total"))
        .filter(|l| reason.is_none_or(|r| l.contains(&format!("reason=\"{r}\""))))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn invalid_frames() -> u64 {
    skipped(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_entries_are_skipped_counted_and_do_not_stop_the_stream() {
    let before = invalid_frames();
    let server = RedisServer::start();
    let (bus, sink) = node(config(vec![server.url()], "g"), None).await;
    let r = room_in_shard(&bus, "g:", 3);
    bus.watch(&room(&r)).await.unwrap();
    assert!(
        !cli(
            server.port,
            &["XADD", "herald:{3}:stream", "*", "f", "garbage"]
        )
        .trim()
        .is_empty()
    );
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let entries: [(&str, Vec<u8>); 3] = [
        ("x", vec![2, 0x80]),    // unknown version
        ("x", vec![1, 0xc1]),    // malformed msgpack
        ("notanumber", vec![1]), // bad offset
    ];
    for (o, f) in entries {
        let _: String = redis::cmd("XADD")
            .arg("herald:{3}:stream")
            .arg("*")
            .arg("r")
            .arg(&r)
            .arg("e")
            .arg("x")
            .arg("o")
            .arg(if o == "x" { "1" } else { o })
            .arg("f")
            .arg(f)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    bus.publish(vec![publication(&r, 1)]).await[0]
        .as_ref()
        .unwrap();
    eventually("the valid message after the garbage", || {
        sink.offsets(&r) == vec![1]
    })
    .await;
    eventually("four invalid entries counted", || {
        invalid_frames() >= before + 4
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_presence_and_the_node_registry_span_nodes() {
    let server = RedisServer::start();
    let pa: Arc<dyn LocalPresence> = Arc::new(Counts(HashMap::from([("lobby", 2), ("vip", 1)])));
    let pb: Arc<dyn LocalPresence> = Arc::new(Counts(HashMap::from([("lobby", 5)])));
    let (a, sink_a) = node(config(vec![server.url()], "na"), Some(pa)).await;
    let (b, sink_b) = node(config(vec![server.url()], "nb"), Some(pb)).await;

    let cmd = Control::Disconnect {
        target: ControlTarget::User("u1".into()),
        reason: "bye".into(),
    };
    a.control(cmd.clone()).await.unwrap();
    for s in [&sink_a, &sink_b] {
        eventually("control on every node", || s.controls.lock().contains(&cmd)).await;
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let nodes: Vec<String> = a
            .nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.node)
            .collect();
        if nodes.contains(&"na".to_owned()) && nodes.contains(&"nb".to_owned()) {
            break;
        }
        assert!(Instant::now() < deadline, "nodes: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let counts = a
        .room_counts(&["lobby".to_owned(), "vip".to_owned(), "empty".to_owned()])
        .await
        .unwrap();
    let counts: BTreeMap<_, _> = counts.into_iter().collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("empty".to_owned(), 0),
            ("lobby".to_owned(), 7),
            ("vip".to_owned(), 1)
        ])
    );

    // A node that stops heartbeating drops out of the registry.
    b.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let nodes: Vec<String> = a
            .nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.node)
            .collect();
        if nodes == vec!["na".to_owned()] {
            break;
        }
        assert!(Instant::now() < deadline, "nodes: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pipelined publish throughput into a local Redis. Run with:
/// `cargo test -p herald-gateway --release --test redis_bus -- --ignored --nocapture publish_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn publish_throughput() {
    let server = RedisServer::start();
    let bus = RedisBus::connect(
        RedisBusConfig {
            history_size: 10,
            command_timeout: Duration::from_secs(30),
            ..config(vec![server.url()], "bench")
        },
        None,
    )
    .await
    .unwrap();
    let batch_size = 1000;
    let batches = 200;
    let rooms: Vec<String> = (0..100).map(|i| format!("bench:{i}")).collect();
    let concurrency = 4;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let bus = bus.clone();
        let rooms = rooms.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..batches / concurrency {
                let batch = (0..batch_size)
                    .map(|i| publication(&rooms[(i + b + t) % rooms.len()], i as u64))
                    .collect();
                for r in bus.publish(batch).await {
                    r.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = batch_size * batches;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} publishes in {secs:.2} s: {:.0} publishes/s",
        n as f64 / secs
    );
    let stats = cli(server.port, &["INFO", "commandstats"]);
    for l in stats.lines().filter(|l| l.contains("evalsha")) {
        println!("{l}");
    }
}

/// A hand-written shard stream entry, as another writer would add it.
async fn xadd(
    c: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    room: &str,
    offset: u64,
    f: Vec<u8>,
) {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("r")
        .arg(room)
        .arg("e")
        .arg("e2")
        .arg("o")
        .arg(offset)
        .arg("f")
        .arg(f)
        .query_async(c)
        .await
        .unwrap();
}

/// A version byte then a MessagePack map, as a newer writer would encode.
fn frame(version: u8, fields: serde_json::Value) -> Vec<u8> {
    let mut out = vec![version];
    out.extend(rmp_serde::to_vec_named(&fields).unwrap());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_a_newer_protocol_are_skipped_and_counted() {
    let before = (
        skipped(Some("unsupported_version")),
        skipped(Some("unknown_kind")),
    );
    let server = RedisServer::start();
    let (bus, sink) = node(config(vec![server.url()], "v"), None).await;
    let r = room_in_shard(&bus, "v:", 5);
    bus.watch(&room(&r)).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let stream = "herald:{5}:stream";
    let publish = |n: u64, extra: bool| {
        let mut f = json!({"t": "publish", "room": r, "event": "e", "data": n, "ts_ms": 0});
        if extra {
            f["added_in_a_later_release"] = json!({"nested": [1, 2]});
        }
        f
    };
    // Interleaved: valid (version 1, the payload in the map), next
    // version, unknown kind, valid with a field this reader does not know,
    // a later version again, valid (version 2, the payload after the map).
    xadd(&mut c, stream, &r, 1, frame(1, publish(1, false))).await;
    xadd(&mut c, stream, &r, 2, frame(3, publish(2, false))).await;
    xadd(
        &mut c,
        stream,
        &r,
        3,
        frame(1, json!({"t": "compacted_snapshot", "room": r})),
    )
    .await;
    xadd(&mut c, stream, &r, 4, frame(1, publish(4, true))).await;
    xadd(&mut c, stream, &r, 5, frame(7, json!({"anything": true}))).await;
    let mut v2 = json!({"t": "publish", "room": r, "event": "e", "ts_ms": 0, "later": 1});
    v2["later"] = json!([true]);
    let mut v2 = frame(2, v2);
    v2.extend_from_slice(b"6");
    xadd(&mut c, stream, &r, 6, v2).await;
    // The control stream too.
    let _: String = redis::cmd("XADD")
        .arg("herald:{ctl}:control")
        .arg("*")
        .arg("f")
        .arg(frame(1, json!({"t": "rebalance", "to": "n2"})))
        .query_async(&mut c)
        .await
        .unwrap();
    eventually("every known frame delivered, in order", || {
        sink.offsets(&r) == vec![1, 4, 6]
    })
    .await;
    let payloads: Vec<String> = sink
        .msgs
        .lock()
        .iter()
        .map(|m| m.data.as_str().to_owned())
        .collect();
    assert_eq!(
        payloads,
        ["1", "4", "6"],
        "both layouts carry their payload"
    );
    eventually("the newer frames counted by reason", || {
        skipped(Some("unsupported_version")) >= before.0 + 2
            && skipped(Some("unknown_kind")) >= before.1 + 2
    })
    .await;
    // The stream is not wedged: a publication through the bus still arrives.
    bus.publish(vec![publication(&r, 9)]).await[0]
        .as_ref()
        .unwrap();
    eventually("delivery goes on", || sink.offsets(&r).len() == 4).await;
}
