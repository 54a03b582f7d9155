//! The demo's live collection: the latest orders, whose statuses change in
//! place (pending → paid → shipped), published to [`ROOM`] as a live
//! collection without MongoDB: the in-memory bus keeps the set exactly as
//! the Redis bus does for the router.

use herald_protocol::bus::Publication;
use herald_protocol::collection::{
    CHANGE_EVENT, Change, ChangeKind, Patch, SetChange, SetOp, SetSpec, key_text, order,
};
use rand::Rng;
use serde_json::{Value, json};

/// The live orders room.
pub const ROOM: &str = "orders:live";

/// Most orders the live set holds.
pub const LIMIT: u32 = 50;

/// The status an order moves to next, if any.
fn next_status(s: &str) -> Option<&'static str> {
    match s {
        "pending" => Some("paid"),
        "paid" => Some("shipped"),
        _ => None,
    }
}

/// The set's shape: the latest [`LIMIT`] orders by `createdAt`.
pub fn spec() -> SetSpec {
    SetSpec {
        key: "_id".into(),
        sort: Some("createdAt".into()),
        descending: true,
        limit: Some(LIMIT),
    }
}

/// RFC 3339 UTC with milliseconds, as the router writes BSON dates.
fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The live set as the demo keeps it: the members, in no order.
#[derive(Default)]
pub struct LiveOrders {
    /// Key text and document of each member.
    members: Vec<(String, Value)>,
}

impl LiveOrders {
    /// The members' documents.
    pub fn docs(&self) -> impl Iterator<Item = &Value> {
        self.members.iter().map(|(_, d)| d)
    }

    /// Publications for one tick: each new order enters (the oldest
    /// member leaving first when the set is full), then one or two members
    /// move on a status.
    pub fn tick(
        &mut self,
        rng: &mut impl Rng,
        new_orders: &[Value],
        now_ms: u64,
    ) -> Vec<Publication> {
        let mut out = Vec::new();
        for o in new_orders {
            let doc = json!({
                "_id": o["id"],
                "customer": o["customer"],
                "region": o["region"],
                "items": o["items"],
                "total": o["amount"],
                "status": "pending",
                "createdAt": rfc3339(now_ms),
            });
            let key = key_text(&doc["_id"]);
            // Make room first, so the stored set never holds more than
            // the limit, not even between two changes.
            if self.members.len() >= LIMIT as usize {
                out.push(self.evict_last());
            }
            self.members.push((key.clone(), doc.clone()));
            out.push(publication(
                Change {
                    room: ROOM.into(),
                    key: doc["_id"].clone(),
                    kind: ChangeKind::Upsert { doc: doc.clone() },
                },
                SetOp::Put {
                    key,
                    doc: (&doc).into(),
                },
            ));
        }
        let movable: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.members[i].1["status"]
                    .as_str()
                    .and_then(next_status)
                    .is_some()
            })
            .collect();
        for _ in 0..rng.random_range(1..=2usize).min(movable.len()) {
            let i = movable[rng.random_range(0..movable.len())];
            let (key, doc) = &mut self.members[i];
            let Some(next) = doc["status"].as_str().and_then(next_status) else {
                continue; // moved already this tick
            };
            doc["status"] = json!(next);
            doc["updatedAt"] = json!(rfc3339(now_ms));
            let mut patch = Patch::default();
            patch.set.insert("status".into(), json!(next));
            patch
                .set
                .insert("updatedAt".into(), doc["updatedAt"].clone());
            out.push(publication(
                Change {
                    room: ROOM.into(),
                    key: doc["_id"].clone(),
                    kind: ChangeKind::Patch(patch),
                },
                SetOp::Put {
                    key: key.clone(),
                    doc: (&*doc).into(),
                },
            ));
        }
        out
    }

    /// Removes the member last in the set's order.
    fn evict_last(&mut self) -> Publication {
        let spec = spec();
        let last = (0..self.members.len())
            .max_by(|&a, &b| {
                let ((ka, da), (kb, db)) = (&self.members[a], &self.members[b]);
                order::cmp_members(&spec, da, ka, db, kb)
            })
            .unwrap_or(0);
        let (key, doc) = self.members.swap_remove(last);
        publication(
            Change {
                room: ROOM.into(),
                key: doc["_id"].clone(),
                kind: ChangeKind::Remove,
            },
            SetOp::Remove { key },
        )
    }
}

fn publication(change: Change, op: SetOp) -> Publication {
    Publication {
        room: ROOM.into(),
        event: CHANGE_EVENT.into(),
        data: change.to_json(),
        ts_ms: 0,
        src_ts_ms: None,
        src: None,
        src_pos: None,
        fence: None,
        set: Some(SetChange { spec: spec(), op }),
    }
}

#[cfg(test)]
mod tests {
    use herald_protocol::collection::LiveSet;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_changes_rebuild_the_latest_orders_with_statuses_moving_forward() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut live = LiveOrders::default();
        let mut client = LiveSet::new(spec());
        let mut patches = 0;
        for t in 0..200u64 {
            let orders: Vec<Value> = (0..rng.random_range(1..=3))
                .map(|i| json!({"id": format!("o-{:06}", t * 10 + i), "customer": "Ada", "region": "eu", "items": 1, "amount": 2.5}))
                .collect();
            for p in live.tick(&mut rng, &orders, 1_700_000_000_000 + t * 1000) {
                let c = Change::decode(p.data.as_bytes()).unwrap();
                patches += usize::from(matches!(c.kind, ChangeKind::Patch(_)));
                client.apply(&c).unwrap();
                assert!(
                    client.docs.len() <= LIMIT as usize,
                    "never over the limit, not even between two changes"
                );
            }
        }
        assert!(patches > 50, "statuses change in place: {patches} patches");
        assert_eq!(client.docs.len(), LIMIT as usize);
        let mut held: Vec<&Value> = live.docs().collect();
        held.sort_by_key(|d| d["_id"].as_str().unwrap_or("").to_owned());
        let mut got: Vec<&Value> = client.docs.values().collect();
        got.sort_by_key(|d| d["_id"].as_str().unwrap_or("").to_owned());
        assert_eq!(got, held, "the client's copy equals the demo's set");
        let newest = client.sorted()[0]["_id"].as_str().unwrap().to_owned();
        assert!(newest.starts_with("o-0019"), "latest first: {newest}");
    }

    #[test]
    fn dates_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
