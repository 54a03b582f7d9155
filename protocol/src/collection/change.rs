//! The payloads a live collection's subscribers get.
//!
//! ```json
//! {"room":"orders:live","key":"_id","sort":"createdAt","descending":true,"limit":50,"reset":false,"docs":[…]}
//! {"room":"orders:live","op":"upsert","key":"65f0…","doc":{…}}
//! {"room":"orders:live","op":"patch","key":"65f0…","set":{"status":"paid"},"unset":["note"],"truncate":{"items":2}}
//! {"room":"orders:live","op":"remove","key":"65f0…"}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SetSpec;
use crate::JsonText;

/// The whole set (event [`SNAPSHOT_EVENT`](super::SNAPSHOT_EVENT)): a client
/// replaces what it held for the room with `docs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The room.
    pub room: String,
    /// The set's shape.
    #[serde(flatten)]
    pub spec: SetSpec,
    /// Whether this snapshot replaces the set after a resync (rather than
    /// being what a new subscriber gets).
    #[serde(default)]
    pub reset: bool,
    /// Every member, in the set's order.
    pub docs: Vec<Value>,
}

/// Only the fields an update changed, from `updateDescription`. Applied
/// in this order: `truncate`, then `set`, then `unset`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// New values by dotted path (`updatedFields`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub set: Map<String, Value>,
    /// Removed dotted paths (`removedFields`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<String>,
    /// Arrays truncated to a new size, by dotted path (`truncatedArrays`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub truncate: BTreeMap<String, u64>,
    /// The explicit parts of any path above whose field names hold dots
    /// (`disambiguatedPaths`); a path not listed is split at its dots.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, Vec<String>>,
}

impl Patch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty() && self.truncate.is_empty()
    }

    /// The parts of `path`, explicit where the patch gives them.
    pub fn parts(&self, path: &str) -> Vec<String> {
        self.paths
            .get(path)
            .cloned()
            .unwrap_or_else(|| super::path::split(path))
    }
}

/// One change (event [`CHANGE_EVENT`](super::CHANGE_EVENT)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ChangeKind {
    /// The whole document under the key: insert, replace, or entering the set.
    Upsert {
        /// The document.
        doc: Value,
    },
    /// Only the changed fields of a member.
    Patch(Patch),
    /// The key left the set.
    Remove,
}

/// One change to a room's set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The room.
    pub room: String,
    /// The document's key value.
    pub key: Value,
    /// What changed.
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// A payload that is not a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid live-collection payload: {0}")]
pub struct ChangeDecodeError(String);

impl Change {
    /// The payload text.
    pub fn to_json(&self) -> JsonText {
        JsonText::from_serialize(self)
    }

    /// Reads a change payload.
    ///
    /// # Errors
    /// [`ChangeDecodeError`] when `bytes` is not one.
    pub fn decode(bytes: &[u8]) -> Result<Self, ChangeDecodeError> {
        serde_json::from_slice(bytes).map_err(|e| ChangeDecodeError(e.to_string()))
    }
}

impl Snapshot {
    /// The payload text.
    pub fn to_json(&self) -> JsonText {
        JsonText::from_serialize(self)
    }

    /// Reads a snapshot payload.
    ///
    /// # Errors
    /// [`ChangeDecodeError`] when `bytes` is not one.
    pub fn decode(bytes: &[u8]) -> Result<Self, ChangeDecodeError> {
        serde_json::from_slice(bytes).map_err(|e| ChangeDecodeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_have_the_documented_shape() {
        let mut patch = Patch::default();
        patch.set.insert("status".into(), json!("paid"));
        patch.unset.push("note".into());
        patch.truncate.insert("items".into(), 2);
        let c = Change {
            room: "orders:live".into(),
            key: json!("k1"),
            kind: ChangeKind::Patch(patch),
        };
        let v: Value = serde_json::from_slice(c.to_json().as_bytes()).unwrap();
        assert_eq!(
            v,
            json!({"room":"orders:live","op":"patch","key":"k1","set":{"status":"paid"},"unset":["note"],"truncate":{"items":2}})
        );
        assert_eq!(Change::decode(c.to_json().as_bytes()), Ok(c));
        let r = Change {
            room: "r".into(),
            key: json!(7),
            kind: ChangeKind::Remove,
        };
        assert_eq!(
            r.to_json().as_bytes(),
            br#"{"room":"r","key":7,"op":"remove"}"#
        );
        let s = Snapshot {
            room: "r".into(),
            spec: SetSpec::by_id(),
            reset: false,
            docs: vec![json!({"_id": 1})],
        };
        let v: Value = serde_json::from_slice(s.to_json().as_bytes()).unwrap();
        assert_eq!(
            v,
            json!({"room":"r","key":"_id","descending":false,"reset":false,"docs":[{"_id":1}]})
        );
        assert!(Change::decode(br#"{"room":"r","key":1,"op":"explode"}"#).is_err());
    }
}
