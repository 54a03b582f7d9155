//! Collections: documents in insertion order with an `_id` index.

use mongodb::bson::{Bson, Document};
use std::collections::{BTreeMap, HashMap};

/// A hashable form of an `_id` (integral numbers normalised to int64).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdKey(Vec<u8>);

impl IdKey {
    /// Builds the key for an `_id` value.
    pub fn of(id: &Bson) -> Self {
        let norm = match id {
            Bson::Int32(i) => Bson::Int64(i64::from(*i)),
            Bson::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Bson::Int64(*d as i64),
            other => other.clone(),
        };
        let mut d = Document::new();
        d.insert("", norm);
        let mut bytes = Vec::new();
        // Serialising a document holding one valid value cannot fail; fall back to Debug.
        if d.to_writer(&mut bytes).is_err() {
            bytes = format!("{id:?}").into_bytes();
        }
        Self(bytes)
    }
}

/// One collection.
#[derive(Debug, Default, Clone)]
pub struct Collection {
    /// Documents keyed by insertion counter, so iteration is insertion order.
    docs: BTreeMap<u64, Document>,
    /// `_id` -> insertion counter.
    index: HashMap<IdKey, u64>,
    /// Next insertion counter.
    next: u64,
    /// `changeStreamPreAndPostImages` is enabled (`create` / `collMod`).
    pub images: bool,
}

impl Collection {
    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Documents in insertion order with their slots.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Document)> {
        self.docs.iter().map(|(k, v)| (*k, v))
    }

    /// The document with this `_id`.
    pub fn get(&self, id: &Bson) -> Option<&Document> {
        self.index
            .get(&IdKey::of(id))
            .and_then(|slot| self.docs.get(slot))
    }

    /// Inserts a document that has an `_id`; false on a duplicate key.
    pub fn insert(&mut self, doc: Document) -> bool {
        let Some(id) = doc.get("_id") else {
            return false;
        };
        let key = IdKey::of(id);
        if self.index.contains_key(&key) {
            return false;
        }
        self.index.insert(key, self.next);
        self.docs.insert(self.next, doc);
        self.next += 1;
        true
    }

    /// Replaces the document in `slot` (its `_id` is unchanged).
    pub fn put(&mut self, slot: u64, doc: Document) {
        self.docs.insert(slot, doc);
    }

    /// Removes the document in `slot`.
    pub fn remove(&mut self, slot: u64) -> Option<Document> {
        let doc = self.docs.remove(&slot)?;
        if let Some(id) = doc.get("_id") {
            self.index.remove(&IdKey::of(id));
        }
        Some(doc)
    }
}

/// All databases: db name -> collection name -> collection.
#[derive(Debug, Default)]
pub struct Store {
    dbs: BTreeMap<String, BTreeMap<String, Collection>>,
}

impl Store {
    /// A collection, if it exists.
    pub fn get(&self, db: &str, coll: &str) -> Option<&Collection> {
        self.dbs.get(db).and_then(|d| d.get(coll))
    }

    /// A collection, created if missing.
    pub fn get_or_create(&mut self, db: &str, coll: &str) -> &mut Collection {
        self.dbs
            .entry(db.to_owned())
            .or_default()
            .entry(coll.to_owned())
            .or_default()
    }

    /// A collection for mutation, if it exists.
    pub fn get_mut(&mut self, db: &str, coll: &str) -> Option<&mut Collection> {
        self.dbs.get_mut(db).and_then(|d| d.get_mut(coll))
    }

    /// Removes a collection; returns it if it existed.
    pub fn drop_collection(&mut self, db: &str, coll: &str) -> Option<Collection> {
        let d = self.dbs.get_mut(db)?;
        let c = d.remove(coll);
        if d.is_empty() {
            self.dbs.remove(db);
        }
        c
    }

    /// Collection names in a database.
    pub fn collection_names(&self, db: &str) -> Vec<String> {
        self.dbs
            .get(db)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Database names.
    pub fn database_names(&self) -> Vec<String> {
        self.dbs.keys().cloned().collect()
    }
}
