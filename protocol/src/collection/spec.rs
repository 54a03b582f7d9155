//! What a live collection's set is: which field keys it, how it is
//! sorted and how many documents it holds at most.

use serde::{Deserialize, Serialize};

/// The shape of a live collection's set. Stored with the set (the room
/// hash's `set` field, as JSON) and sent in every snapshot, so clients can
/// order what they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSpec {
    /// The dotted path of the document key (`_id` by default).
    pub key: String,
    /// The dotted path of the sort field, if the set is sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// Whether the sort is descending (the latest first).
    #[serde(default)]
    pub descending: bool,
    /// The most documents the set holds: the first `limit` in sort order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A stored spec that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid live-collection spec: {0}")]
pub struct SpecError(String);

impl SetSpec {
    /// An unsorted, unlimited set keyed by `_id`.
    pub fn by_id() -> Self {
        Self {
            key: "_id".into(),
            sort: None,
            descending: false,
            limit: None,
        }
    }

    /// The compact JSON text the bus stores.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored spec.
    ///
    /// # Errors
    /// [`SpecError`] when `bytes` is not a spec's JSON, or names an empty
    /// key path.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        let spec: Self = serde_json::from_slice(bytes).map_err(|e| SpecError(e.to_string()))?;
        if spec.key.is_empty() || spec.sort.as_deref() == Some("") {
            return Err(SpecError("empty field path".into()));
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_its_stored_text_and_bad_text_is_refused() {
        let spec = SetSpec {
            key: "_id".into(),
            sort: Some("createdAt".into()),
            descending: true,
            limit: Some(50),
        };
        assert_eq!(SetSpec::decode(spec.to_text().as_bytes()), Ok(spec));
        assert!(SetSpec::decode(b"{").is_err());
        assert!(SetSpec::decode(br#"{"key":""}"#).is_err());
        assert!(SetSpec::decode(br#"{"key":"_id","sort":""}"#).is_err());
    }
}
