//! A JSON value kept as its text: checked once where it enters Herald,
//! then spliced into every frame that carries it, never parsed again.
//!
//! A publication's payload is one of these from the publisher to the
//! socket: the router writes it from BSON, the bus stores it as the tail of
//! the frame, the gateway takes it out of the Redis reply without a copy
//! and writes it into each client frame as is.

use std::fmt;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A JSON value as UTF-8 text, known to be valid JSON.
///
/// Cloning shares the bytes. Two values are equal when their texts are;
/// texts made by [`JsonText::from_value`] are compact, so equal values
/// have equal texts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonText(Bytes);

/// Bytes that are not one valid JSON value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload is not valid JSON: {0}")]
pub struct InvalidJson(String);

impl JsonText {
    /// The text `null`.
    pub const fn null() -> Self {
        Self(Bytes::from_static(b"null"))
    }

    /// The compact text of `value`.
    pub fn from_value(value: &Value) -> Self {
        Self::from_serialize(value)
    }

    /// The compact JSON text of anything that serializes to JSON.
    ///
    /// # Panics
    /// Never for types whose map keys are strings (every payload type
    /// Herald has); a serializer error there is a bug.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Self {
        // Writing into a Vec cannot fail; payload maps have string keys.
        let text = serde_json::to_vec(value).expect("payloads serialize to JSON");
        Self(Bytes::from(text))
    }

    /// The compact JSON text of `value`, or the serializer's error (for
    /// types whose serialization can refuse, such as a depth limit).
    ///
    /// # Errors
    /// What the value's `Serialize` returned.
    pub fn try_from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(|text| Self(Bytes::from(text)))
    }

    /// Checks that `text` is one JSON value (whitespace around it allowed)
    /// and keeps it, without copying.
    ///
    /// # Errors
    /// [`InvalidJson`] with the parser's message.
    pub fn parse(text: Bytes) -> Result<Self, InvalidJson> {
        serde_json::from_slice::<IgnoredAny>(&text).map_err(|e| InvalidJson(e.to_string()))?;
        Ok(Self(text))
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Checked as JSON, hence UTF-8, when it was made.
        std::str::from_utf8(&self.0).unwrap_or("null")
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty (never, for a value made here).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value, parsed (for the few paths that need a tree: MessagePack
    /// clients, tests).
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }
}

impl Default for JsonText {
    fn default() -> Self {
        Self::null()
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonText({})", self.as_str())
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

/// Compares the value held with `other` (parsing it: for tests and the
/// rare checks that have a tree at hand).
impl PartialEq<Value> for JsonText {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

/// Serializes as the value it holds, in any format (MessagePack clients
/// get a native map). JSON fast paths splice [`JsonText::as_bytes`] instead.
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// Deserializes any value and keeps its compact JSON text.
impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Self::from_value(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_keeps_the_bytes_and_refuses_what_is_not_one_value() {
        let text = Bytes::from_static(b" {\"a\": [1, 2]} ");
        let j = JsonText::parse(text.clone()).unwrap();
        assert_eq!(j.as_bytes(), &text[..]);
        assert_eq!(j.to_value(), json!({"a": [1, 2]}));
        for bad in [&b""[..], b"{", b"1 2", b"\xff", b"{\"a\":}", b"nul"] {
            assert!(
                JsonText::parse(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn from_value_is_compact_and_round_trips() {
        let v = json!({"k": "é\"\n", "n": [1.5, null, true]});
        let j = JsonText::from_value(&v);
        assert_eq!(j.as_str(), serde_json::to_string(&v).unwrap());
        assert_eq!(j.to_value(), v);
        assert_eq!(JsonText::null().to_value(), Value::Null);
    }

    #[test]
    fn serializes_as_its_value_in_messagepack() {
        let v = json!({"n": 1});
        let j = JsonText::from_value(&v);
        assert_eq!(
            rmp_serde::to_vec_named(&j).unwrap(),
            rmp_serde::to_vec_named(&v).unwrap()
        );
        let back: JsonText = rmp_serde::from_slice(&rmp_serde::to_vec_named(&v).unwrap()).unwrap();
        assert_eq!(back, j);
    }
}
