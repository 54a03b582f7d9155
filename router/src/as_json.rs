//! BSON written as JSON text in one pass, straight from the driver's raw
//! bytes: the mapping of [`crate::convert`], with no document and no JSON
//! tree built in between. A publication's payload is made here, into the
//! text the bus stores and the gateways splice into client frames.

use base64::Engine;
use mongodb::bson::{RawBsonRef, RawDocument};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use herald_protocol::JsonText;

use crate::convert::{ConvertError, MAX_DEPTH};

/// Largest integer a JSON number carries exactly (2^53).
const MAX_SAFE_INT: i64 = 1 << 53;

/// The error text that marks nesting past [`MAX_DEPTH`].
const TOO_DEEP: &str = "herald: nesting too deep";

/// The JSON text of a document.
///
/// # Errors
/// [`ConvertError::TooDeep`] for nesting deeper than [`MAX_DEPTH`],
/// [`ConvertError::Malformed`] for bytes that are not BSON.
pub fn document_text(doc: &RawDocument) -> Result<JsonText, ConvertError> {
    text(&AsJson::Doc(doc, 0))
}

/// The JSON text of one BSON value.
///
/// # Errors
/// As [`document_text`].
pub fn bson_text(value: RawBsonRef<'_>) -> Result<JsonText, ConvertError> {
    text(&AsJson::Value(value, 0))
}

fn text(v: &AsJson<'_>) -> Result<JsonText, ConvertError> {
    JsonText::try_from_serialize(v).map_err(|e| {
        if e.to_string().contains(TOO_DEEP) {
            ConvertError::TooDeep
        } else {
            ConvertError::Malformed(e.to_string())
        }
    })
}

/// A raw BSON value that serializes as the JSON of the documented mapping,
/// at a nesting depth.
#[derive(Clone, Copy)]
enum AsJson<'a> {
    /// A document.
    Doc(&'a RawDocument, usize),
    /// Any value.
    Value(RawBsonRef<'a>, usize),
}

impl Serialize for AsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Doc(d, depth) => doc(d, depth, s),
            Self::Value(v, depth) => value(v, depth, s),
        }
    }
}

fn doc<S: Serializer>(d: &RawDocument, depth: usize, s: S) -> Result<S::Ok, S::Error> {
    if depth >= MAX_DEPTH {
        return Err(S::Error::custom(TOO_DEEP));
    }
    let mut map = s.serialize_map(None)?;
    for item in d {
        let (k, v) = item.map_err(S::Error::custom)?;
        map.serialize_entry(k, &AsJson::Value(v, depth + 1))?;
    }
    map.end()
}

fn value<S: Serializer>(v: RawBsonRef<'_>, depth: usize, s: S) -> Result<S::Ok, S::Error> {
    match v {
        RawBsonRef::Double(f) if f.is_finite() => s.serialize_f64(f),
        RawBsonRef::Double(f) if f.is_nan() => s.serialize_str("NaN"),
        RawBsonRef::Double(f) if f > 0.0 => s.serialize_str("Infinity"),
        RawBsonRef::Double(_) => s.serialize_str("-Infinity"),
        RawBsonRef::String(t) | RawBsonRef::Symbol(t) | RawBsonRef::JavaScriptCode(t) => {
            s.serialize_str(t)
        }
        RawBsonRef::Document(d) => doc(d, depth, s),
        RawBsonRef::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(S::Error::custom(TOO_DEEP));
            }
            let mut seq = s.serialize_seq(None)?;
            for item in items {
                let item = item.map_err(S::Error::custom)?;
                seq.serialize_element(&AsJson::Value(item, depth + 1))?;
            }
            seq.end()
        }
        RawBsonRef::Boolean(b) => s.serialize_bool(b),
        RawBsonRef::Null | RawBsonRef::Undefined => s.serialize_unit(),
        RawBsonRef::Int32(i) => s.serialize_i32(i),
        RawBsonRef::Int64(i) if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(&i) => s.serialize_i64(i),
        RawBsonRef::Int64(i) => s.collect_str(&i),
        RawBsonRef::ObjectId(o) => s.serialize_str(&o.to_hex()),
        RawBsonRef::DateTime(d) => match d.try_to_rfc3339_string() {
            Ok(t) => s.serialize_str(&t),
            Err(_) => s.serialize_i64(d.timestamp_millis()),
        },
        RawBsonRef::Decimal128(d) => s.collect_str(&d),
        RawBsonRef::Binary(b) => {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b.bytes))
        }
        RawBsonRef::Timestamp(t) => {
            let mut map = s.serialize_map(Some(2))?;
            map.serialize_entry("t", &t.time)?;
            map.serialize_entry("i", &t.increment)?;
            map.end()
        }
        RawBsonRef::RegularExpression(r) => {
            s.collect_str(&format_args!("/{}/{}", r.pattern, r.options))
        }
        RawBsonRef::JavaScriptCodeWithScope(c) => {
            let mut map = s.serialize_map(Some(2))?;
            map.serialize_entry("code", c.code)?;
            map.serialize_entry("scope", &AsJson::Doc(c.scope, depth + 1))?;
            map.end()
        }
        RawBsonRef::MinKey => s.serialize_str("MinKey"),
        RawBsonRef::MaxKey => s.serialize_str("MaxKey"),
        RawBsonRef::DbPointer(_) => s.serialize_str("DBPointer"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mongodb::bson::spec::BinarySubtype;
    use mongodb::bson::{
        Binary, Bson, DateTime, Decimal128, RawDocumentBuf, Regex, Timestamp, doc, oid::ObjectId,
    };
    use proptest::prelude::*;

    use super::*;
    use crate::convert::{bson_to_json, document_to_json, tests::arb_bson};

    #[test]
    fn a_single_value_and_bytes_that_are_not_bson() {
        let d = RawDocumentBuf::from_document(&doc! { "s": "x", "n": 2_i64 }).unwrap();
        assert_eq!(
            bson_text(d.get("n").unwrap().unwrap()).unwrap().as_str(),
            "2"
        );
        // A document whose length prefix promises more than it holds.
        let bad = [12u8, 0, 0, 0, 0x02, b'a', 0, 5, 0, 0, 0, b'x'];
        if let Ok(raw) = RawDocument::from_bytes(&bad) {
            assert!(matches!(
                document_text(raw),
                Err(ConvertError::Malformed(_))
            ));
        }
    }

    #[test]
    fn every_kind_writes_the_text_of_the_tree_mapping() {
        let d = doc! {
            "oid": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(),
            "when": DateTime::from_millis(1_704_164_645_678),
            "far": DateTime::from_millis(i64::MAX),
            "small": 42_i64, "big": (1_i64 << 53) + 1, "neg": -(1_i64 << 53),
            "i": 7_i32, "f": 1.5, "z": -0.0, "nan": f64::NAN, "inf": f64::INFINITY,
            "dec": Decimal128::from_bytes([0; 16]),
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "ts": Timestamp { time: 10, increment: 2 },
            "re": Regex { pattern: "^a".into(), options: "i".into() },
            "n": Bson::Null, "u": Bson::Undefined, "min": Bson::MinKey, "max": Bson::MaxKey,
            "s": "é\"\n\u{1}", "arr": [1_i32, "x", { "y": true }],
        };
        let text = document_text(&RawDocumentBuf::from_document(&d).unwrap()).unwrap();
        let tree = document_to_json(&d).unwrap();
        assert_eq!(text.as_str(), serde_json::to_string(&tree).unwrap());
    }

    #[test]
    fn nesting_past_the_limit_is_the_same_error() {
        let mut v = Bson::Int32(1);
        for _ in 0..(MAX_DEPTH - 1) {
            v = Bson::Array(vec![v]);
        }
        let raw = |d: &mongodb::bson::Document| RawDocumentBuf::from_document(d).unwrap();
        let ok = doc! { "a": v.clone() };
        assert!(document_text(&raw(&ok)).is_ok());
        assert!(bson_to_json(&Bson::Document(ok)).is_ok());
        let deeper = doc! { "a": { "b": v } };
        assert_eq!(document_text(&raw(&deeper)), Err(ConvertError::TooDeep));
        assert_eq!(
            bson_to_json(&Bson::Document(deeper)),
            Err(ConvertError::TooDeep)
        );
    }

    proptest! {
        #[test]
        fn the_text_is_the_tree_mapping_serialized(v in arb_bson()) {
            let d = doc! { "v": v };
            // Keys holding NUL are not BSON: the driver never returns them.
            let raw = RawDocumentBuf::from_document(&d);
            prop_assume!(raw.is_ok());
            let raw = raw.unwrap();
            match (document_text(&raw), document_to_json(&d)) {
                (Ok(text), Ok(tree)) => {
                    prop_assert_eq!(text.as_str(), serde_json::to_string(&tree).unwrap())
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
            }
        }
    }
}
