//! Live collections as clients see them: a copy from a fresh snapshot of
//! the stored set, a copy fed only by the room's change messages, and the
//! set computed from the collection itself.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use herald_bus::Bus;
use herald_bus::redis::RedisBus;
use herald_protocol::collection::order::cmp_members;
use herald_protocol::collection::{
    CHANGE_EVENT, Change, LiveSet, SNAPSHOT_EVENT, SetSpec, Snapshot, key_text, path,
};
use herald_protocol::{Position, RoomName};
use herald_router::collection::doc::project;
use herald_router::convert::document_to_json;
use mongodb::bson::{Document, doc};
use serde_json::Value;

use super::HISTORY;

/// The members of a set in its order.
pub fn in_order(set: &LiveSet) -> Vec<Value> {
    set.sorted().into_iter().cloned().collect()
}

/// A new subscriber's copy: the snapshot of the stored set, and the
/// position it stands at; `None` when the room holds no set yet.
pub async fn snapshot_copy(bus: &RedisBus, room: &str) -> Option<(LiveSet, Position)> {
    let name = RoomName::new(room).unwrap();
    let set = bus.read_set(&name).await.ok()??;
    let msg = set.snapshot(&name, 0);
    let snap = Snapshot::decode(msg.data.as_bytes()).unwrap();
    assert!(!snap.reset);
    Some((
        LiveSet::from_snapshot(&snap),
        Position {
            epoch: set.epoch.to_string(),
            offset: set.offset,
        },
    ))
}

/// The room's messages after `since` (its whole history from offset 0 by
/// default): (offset, event, data).
pub async fn messages_after(
    bus: &RedisBus,
    room: &str,
    since: Option<Position>,
) -> Option<Vec<(u64, String, Value)>> {
    let name = RoomName::new(room).unwrap();
    let since = match since {
        Some(p) => p,
        None => {
            let set = bus.read_set(&name).await.ok()??;
            Position {
                epoch: set.epoch.to_string(),
                offset: 0,
            }
        }
    };
    let h = bus.history(&name, Some(&since), HISTORY).await.ok()?;
    assert!(h.recovered, "the history from {since:?} is held");
    Some(
        h.messages
            .iter()
            .map(|m| (m.offset, m.event.clone(), m.data.to_value()))
            .collect(),
    )
}

/// Applies messages to a copy, as a client does: a snapshot replaces it,
/// a change is applied.
pub fn apply_all(set: &mut LiveSet, msgs: &[(u64, String, Value)]) {
    for (offset, event, data) in msgs {
        let bytes = serde_json::to_vec(data).unwrap();
        match event.as_str() {
            SNAPSHOT_EVENT => *set = LiveSet::from_snapshot(&Snapshot::decode(&bytes).unwrap()),
            CHANGE_EVENT => {
                let c = Change::decode(&bytes).unwrap();
                set.apply(&c).unwrap_or_else(|e| {
                    panic!("change at offset {offset} does not apply: {e}: {data}")
                });
            }
            other => panic!("unexpected event {other} at offset {offset}"),
        }
    }
}

/// A copy fed only by the room's messages, from the start.
pub async fn history_copy(bus: &RedisBus, room: &str, spec: &SetSpec) -> Option<LiveSet> {
    let msgs = messages_after(bus, room, None).await?;
    let mut set = LiveSet::new(spec.clone());
    apply_all(&mut set, &msgs);
    Some(set)
}

/// The set the collection itself gives: the documents `keep` accepts, as
/// JSON, projected to `paths`, in the set's order, the first `limit`.
pub async fn expected(
    coll: &mongodb::Collection<Document>,
    spec: &SetSpec,
    keep: impl Fn(&Value) -> bool,
    paths: Option<&[String]>,
) -> Vec<Value> {
    let all: Vec<Document> = coll
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut docs: Vec<(String, Value)> = all
        .iter()
        .map(|d| document_to_json(d).unwrap())
        .filter(|v| keep(v))
        .map(|v| project(v, paths))
        .filter_map(|v| {
            path::get_dotted(&v, &spec.key)
                .map(key_text)
                .map(|k| (k, v))
        })
        .collect();
    docs.sort_by(|(ka, a), (kb, b)| cmp_members(spec, a, ka, b, kb));
    let n = spec.limit.map_or(usize::MAX, |l| l as usize);
    docs.into_iter().take(n).map(|(_, v)| v).collect()
}

/// Key text → document, for readable diffs.
pub fn by_key(spec: &SetSpec, docs: &[Value]) -> HashMap<String, Value> {
    docs.iter()
        .map(|d| (key_text(path::get_dotted(d, &spec.key).unwrap()), d.clone()))
        .collect()
}

/// A live-collection room under test and how to compute it from the
/// collection.
pub struct Watched {
    /// The room.
    pub room: &'static str,
    /// Its shape, as the rules give it.
    pub spec: SetSpec,
    /// The rule filter, written out for the test.
    pub keep: fn(&Value) -> bool,
    /// The effective projection (`None`: whole documents).
    pub paths: Option<Vec<String>>,
}

/// Waits until a fresh snapshot copy and a history-fed copy of the room
/// both equal the set computed from the collection.
///
/// # Errors
/// After `timeout`, the three sets, for the failure message.
pub async fn converged(
    bus: &RedisBus,
    coll: &mongodb::Collection<Document>,
    w: &Watched,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let want = expected(coll, &w.spec, w.keep, w.paths.as_deref()).await;
        let snap = snapshot_copy(bus, w.room).await.map(|(s, _)| in_order(&s));
        let hist = history_copy(bus, w.room, &w.spec)
            .await
            .map(|s| in_order(&s));
        let empty = want.is_empty();
        let ok = |got: &Option<Vec<Value>>| match got {
            Some(g) => g == &want,
            None => empty,
        };
        if ok(&snap) && ok(&hist) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "room {}:\n want {}\n snapshot {}\n history {}",
                w.room,
                serde_json::to_string(&want).unwrap(),
                serde_json::to_string(&snap).unwrap(),
                serde_json::to_string(&hist).unwrap()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `status` is `paid` or `shipped`.
pub fn paid_or_shipped(v: &Value) -> bool {
    matches!(v["status"].as_str(), Some("paid" | "shipped"))
}

/// `status` is not `void` (absent counts as not void).
pub fn not_void(v: &Value) -> bool {
    v["status"].as_str() != Some("void")
}

/// The rules of the randomized tests: a top-5 window by `n` descending
/// over paid and shipped orders, projected, and every order not void.
pub const RANDOM_RULES: &str = r#"
[[scope]]
name = "shop"
db = "shop"
coll = "orders"

[[collection]]
name = "top"
scope = "shop"
ns = "shop.orders"
filter = { status = { "$in" = ["paid", "shipped"] } }
room = "orders:top"
sort = "n"
order = "desc"
limit = 5
project = ["total", "tags", "customer.name"]

[[collection]]
name = "all"
scope = "shop"
ns = "shop.orders"
filter = { status = { "$ne" = "void" } }
room = "orders:all"
"#;

/// The two rooms of [`RANDOM_RULES`].
pub fn random_rooms() -> Vec<Watched> {
    vec![
        Watched {
            room: "orders:top",
            spec: SetSpec {
                key: "_id".into(),
                sort: Some("n".into()),
                descending: true,
                limit: Some(5),
            },
            keep: paid_or_shipped,
            paths: Some(
                ["total", "tags", "customer.name", "_id", "n", "status"]
                    .map(str::to_owned)
                    .to_vec(),
            ),
        },
        Watched {
            room: "orders:all",
            spec: SetSpec::by_id(),
            keep: not_void,
            paths: None,
        },
    ]
}
