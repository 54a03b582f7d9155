//! The batch publish script against the single one: same replies, same data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herald_tests::redis::RedisServer;
use redis::Value;
use redis::aio::MultiplexedConnection;

use super::keys::{Keys, shard_of};
use super::scripts::{
    BatchItem, PUBLISH_BATCH_LUA, PUBLISH_LUA, parse_publish, parse_publish_batch,
};

/// One publication as the scripts see it.
struct Case {
    room: &'static str,
    src: &'static str,
    pos: &'static str,
    fence: &'static str,
}

const SHARDS: u32 = 4;

/// Rooms of shard 0 (so one batch call can take them all).
fn rooms() -> Vec<&'static str> {
    (0..100)
        .map(|i| format!("r:{i}"))
        .filter(|r| shard_of(r, SHARDS) == 0)
        .take(2)
        .map(|r| &*Box::leak(r.into_boxed_str()))
        .collect()
}

fn cases() -> Vec<Case> {
    let r = rooms();
    let (a, b) = (r[0], r[1]);
    let c = |room, src, pos, fence| Case {
        room,
        src,
        pos,
        fence,
    };
    vec![
        c(a, "", "", ""),
        c(a, "s1", "0005", "7"),
        c(a, "s1", "0005", "7"),  // replay: dup
        c(a, "s1", "0004", "7"),  // older position: dup
        c(b, "s1", "0001", "8"),  // other room, positions independent
        c(a, "s1", "0007", "6"),  // stale fence
        c(a, "s1", "0006", "10"), // raises the fence
        c(b, "s1", "", "9"),      // stale again
        c(b, "s2", "0001", "1"),  // another source's fence
        c(b, "", "", ""),
        c(a, "s1", "00061", ""),
    ]
}

async fn conn(redis: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Normalizes one reply to `ok|dup epoch offset` or `stale <message>`.
fn single(v: Result<Value, redis::RedisError>) -> String {
    match v {
        Ok(v) => {
            let r = parse_publish(&v).unwrap();
            format!("{} {} {}", r.stored, r.epoch, r.offset)
        }
        Err(e) => format!("stale {}", e.detail().unwrap_or("")),
    }
}

fn batch(item: BatchItem) -> String {
    match item {
        BatchItem::Done(r) => format!("{} {} {}", r.stored, r.epoch, r.offset),
        BatchItem::StaleFence(m) => format!("stale {m}"),
    }
}

/// Every key of a prefix with its content, prefix stripped.
async fn dump(c: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(c)
        .await
        .unwrap();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE").arg(&k).query_async(c).await.unwrap();
        let ttl: i64 = redis::cmd("TTL").arg(&k).query_async(c).await.unwrap();
        let content = match kind.as_str() {
            "hash" => {
                let mut h: Vec<(String, String)> =
                    redis::cmd("HGETALL").arg(&k).query_async(c).await.unwrap();
                h.sort();
                format!("{h:?}")
            }
            "string" => redis::cmd("GET")
                .arg(&k)
                .query_async::<String>(c)
                .await
                .unwrap(),
            _ => {
                let v: Value = redis::cmd("XRANGE")
                    .arg(&k)
                    .arg("-")
                    .arg("+")
                    .query_async(c)
                    .await
                    .unwrap();
                // Shard stream IDs are server times: keep only the fields.
                let Value::Array(entries) = v else { panic!() };
                let fields: Vec<String> = entries
                    .into_iter()
                    .map(|e| {
                        let Value::Array(mut parts) = e else { panic!() };
                        let fields = parts.pop().unwrap();
                        let id = match parts.pop().unwrap() {
                            Value::BulkString(b) => String::from_utf8(b).unwrap(),
                            other => panic!("{other:?}"),
                        };
                        let id = if k.ends_with(":stream") {
                            String::new()
                        } else {
                            id
                        };
                        format!("{id} {fields:?}")
                    })
                    .collect();
                format!("{fields:?}")
            }
        };
        let key = k.strip_prefix(prefix).unwrap().to_owned();
        out.push(format!("{key} {kind} ttl>0={} {content}", ttl > 0));
    }
    out
}

#[tokio::test]
async fn a_batch_call_equals_single_calls_in_order() {
    let redis = RedisServer::start();
    let mut c = conn(&redis).await;
    let cases = cases();
    let frame = |i: usize| format!("frame-{i}");
    let epoch = |room: &str| format!("e-{room}");

    let one = redis::Script::new(PUBLISH_LUA);
    let k = Keys::new("one");
    let mut singles = Vec::new();
    for (i, p) in cases.iter().enumerate() {
        let mut inv = one.prepare_invoke();
        inv.key(k.room(0, p.room))
            .key(k.hist(0, p.room))
            .key(k.stream(0))
            .key(k.fence(0, p.src))
            .arg(p.room)
            .arg(frame(i))
            .arg(epoch(p.room))
            .arg(p.src)
            .arg(p.pos)
            .arg(p.fence)
            .arg(3)
            .arg(600)
            .arg(1000);
        singles.push(single(inv.invoke_async::<Value>(&mut c).await));
    }

    let many = redis::Script::new(PUBLISH_BATCH_LUA);
    let k = Keys::new("many");
    let mut inv = many.prepare_invoke();
    inv.key(k.stream(0));
    for p in &cases {
        inv.key(k.room(0, p.room))
            .key(k.hist(0, p.room))
            .key(k.fence(0, p.src))
            .key(k.set(0, p.room));
    }
    inv.arg(3).arg(600).arg(1000);
    for (i, p) in cases.iter().enumerate() {
        inv.arg(p.room)
            .arg(frame(i))
            .arg(epoch(p.room))
            .arg(p.src)
            .arg(p.pos)
            .arg(p.fence)
            .arg("")
            .arg("")
            .arg("")
            .arg("");
    }
    let reply: Value = inv.invoke_async(&mut c).await.unwrap();
    let batched: Vec<String> = parse_publish_batch(&reply)
        .unwrap()
        .into_iter()
        .map(batch)
        .collect();

    assert_eq!(batched, singles);
    assert!(singles.iter().any(|s| s.starts_with("false")), "has a dup");
    assert!(
        singles.iter().any(|s| s.starts_with("stale")),
        "has a stale fence"
    );
    assert_eq!(dump(&mut c, "one").await, dump(&mut c, "many").await);
}
