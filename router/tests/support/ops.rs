//! A seeded random workload over `shop.orders` for the live-collection
//! tests: inserts, field updates, `$unset`s, pipeline array truncations,
//! replaces and deletes over a small key space, so documents move in and
//! out of filters and top-N windows.

use mongodb::bson::{Bson, Document, doc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Statuses; `paid` and `shipped` are what the test filters keep.
pub const STATUSES: [&str; 4] = ["new", "paid", "shipped", "void"];

/// The workload's random source and the keys it believes exist.
pub struct Workload {
    /// Seeded, so a failure reproduces.
    rng: StdRng,
    /// Key space size.
    keys: usize,
    /// Keys inserted and not deleted.
    live: Vec<bool>,
}

fn key(i: usize) -> String {
    format!("k{i:04}")
}

impl Workload {
    /// A workload over `keys` keys from `seed`.
    pub fn new(seed: u64, keys: usize) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            keys,
            live: vec![false; keys],
        }
    }

    fn doc(&mut self, id: &str) -> Document {
        let tags: Vec<Bson> = (0..self.rng.random_range(0..5))
            .map(|t| Bson::String(format!("t{t}")))
            .collect();
        doc! {
            "_id": id,
            "status": STATUSES[self.rng.random_range(0..4)],
            "n": self.rng.random_range(0..1_000_000_i64),
            "total": self.rng.random_range(0..500_i64),
            "tags": tags,
            "customer": { "name": format!("c{}", self.rng.random_range(0..9)), "tier": 1_i32 },
            "note": "hello",
        }
    }

    /// Runs one random operation. Returns what it did, for failure messages.
    pub async fn step(&mut self, coll: &mongodb::Collection<Document>) -> String {
        let i = self.rng.random_range(0..self.keys);
        let id = key(i);
        if !self.live[i] {
            let d = self.doc(&id);
            coll.insert_one(d.clone()).await.unwrap();
            self.live[i] = true;
            return format!("insert {d}");
        }
        let q = doc! {"_id": &id};
        let (what, u): (&str, Bson) = match self.rng.random_range(0..10) {
            0 => {
                coll.delete_one(q).await.unwrap();
                self.live[i] = false;
                return format!("delete {id}");
            }
            1 => {
                let mut d = self.doc(&id);
                d.remove("_id");
                coll.replace_one(q, d.clone()).await.unwrap();
                return format!("replace {id} {d}");
            }
            2 | 3 => (
                "status",
                Bson::Document(doc! {"$set": {"status": STATUSES[self.rng.random_range(0..4)]}}),
            ),
            4 | 5 => (
                "n",
                Bson::Document(doc! {"$set": {"n": self.rng.random_range(0..1_000_000_i64)}}),
            ),
            6 => (
                "fields",
                Bson::Document(doc! {"$set": {
                    "total": self.rng.random_range(0..500_i64),
                    "customer.name": format!("c{}", self.rng.random_range(0..9)),
                }}),
            ),
            7 => (
                "unset",
                Bson::Document(doc! {"$unset": {"note": "", "total": ""}}),
            ),
            8 => {
                let n = self.rng.random_range(0..3);
                let tags: Vec<Bson> = (0..n).map(|t| Bson::String(format!("t{t}"))).collect();
                (
                    "truncate",
                    Bson::Array(vec![Bson::Document(doc! {"$set": {"tags": tags}})]),
                )
            }
            _ => (
                "inc",
                Bson::Document(doc! {"$inc": {"n": 1_i64, "total": 1_i64}}),
            ),
        };
        let text = format!("update {id} {what} {u}");
        match u {
            Bson::Document(d) => coll.update_one(q, d).await.unwrap(),
            Bson::Array(p) => coll
                .update_one(
                    q,
                    p.into_iter()
                        .filter_map(|s| s.as_document().cloned())
                        .collect::<Vec<_>>(),
                )
                .await
                .unwrap(),
            _ => unreachable!(),
        };
        text
    }
}
