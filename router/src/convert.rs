//! BSON to JSON, the mapping documented in `router/README.md`.
//!
//! | BSON | JSON |
//! |---|---|
//! | double | number; NaN and ±Infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | string, symbol, JavaScript code | string |
//! | document / array | object / array (nesting deeper than [`MAX_DEPTH`] is an error) |
//! | int32 | number |
//! | int64 | number when \|n\| ≤ 2^53, otherwise a decimal string |
//! | ObjectId | 24-digit lowercase hex string |
//! | DateTime | RFC 3339 string in UTC with milliseconds (`2024-01-02T03:04:05.678Z`); out-of-range dates as integer milliseconds |
//! | Decimal128 | string (`"1.50"`) |
//! | Binary (any subtype) | standard base64 string |
//! | Timestamp | `{"t": seconds, "i": increment}` |
//! | regex | `"/pattern/options"` |
//! | code with scope | `{"code": "...", "scope": {...}}` |
//! | boolean, null | boolean, null; undefined as null |
//! | MinKey / MaxKey | the strings `"MinKey"` / `"MaxKey"` |
//! | DBPointer | the string `"DBPointer"` |

use base64::Engine;
use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

/// Deepest nesting converted; deeper values are refused rather than risk the stack.
pub const MAX_DEPTH: usize = 100;

/// Largest integer a JSON number carries exactly (2^53).
const MAX_SAFE_INT: i64 = 1 << 53;

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Bytes that are not BSON (read from the driver's raw event).
    #[error("malformed BSON: {0}")]
    Malformed(String),
}

/// Converts a document to a JSON object.
///
/// # Errors
/// [`ConvertError::TooDeep`] for nesting deeper than [`MAX_DEPTH`].
pub fn document_to_json(doc: &Document) -> Result<Value, ConvertError> {
    doc_at(doc, 0)
}

/// Converts one BSON value to JSON.
///
/// # Errors
/// [`ConvertError::TooDeep`] for nesting deeper than [`MAX_DEPTH`].
pub fn bson_to_json(value: &Bson) -> Result<Value, ConvertError> {
    at(value, 0)
}

fn doc_at(doc: &Document, depth: usize) -> Result<Value, ConvertError> {
    if depth >= MAX_DEPTH {
        return Err(ConvertError::TooDeep);
    }
    let mut map = Map::with_capacity(doc.len());
    for (k, v) in doc {
        map.insert(k.clone(), at(v, depth + 1)?);
    }
    Ok(Value::Object(map))
}

fn at(value: &Bson, depth: usize) -> Result<Value, ConvertError> {
    Ok(match value {
        Bson::Double(f) => Number::from_f64(*f).map_or_else(
            || {
                Value::String(if f.is_nan() {
                    "NaN".into()
                } else if *f > 0.0 {
                    "Infinity".into()
                } else {
                    "-Infinity".into()
                })
            },
            Value::Number,
        ),
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => Value::String(s.clone()),
        Bson::Document(d) => doc_at(d, depth)?,
        Bson::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(ConvertError::TooDeep);
            }
            Value::Array(
                items
                    .iter()
                    .map(|v| at(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => {
            if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(i) {
                Value::from(*i)
            } else {
                Value::String(i.to_string())
            }
        }
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::DateTime(d) => d
            .try_to_rfc3339_string()
            .map_or_else(|_| Value::from(d.timestamp_millis()), Value::String),
        Bson::Decimal128(d) => Value::String(d.to_string()),
        Bson::Binary(b) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(&b.bytes))
        }
        Bson::Timestamp(t) => serde_json::json!({"t": t.time, "i": t.increment}),
        Bson::RegularExpression(r) => Value::String(format!("/{}/{}", r.pattern, r.options)),
        Bson::JavaScriptCodeWithScope(c) => {
            serde_json::json!({"code": c.code, "scope": doc_at(&c.scope, depth + 1)?})
        }
        Bson::MinKey => Value::String("MinKey".into()),
        Bson::MaxKey => Value::String("MaxKey".into()),
        Bson::DbPointer(_) => Value::String("DBPointer".into()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use mongodb::bson::spec::BinarySubtype;
    use mongodb::bson::{Binary, DateTime, Decimal128, Regex, Timestamp, doc, oid::ObjectId};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_follow_the_documented_mapping() {
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let d = doc! {
            "oid": oid,
            "when": DateTime::from_millis(1_704_164_645_678),
            "small": 42_i64,
            "big": (1_i64 << 53) + 1,
            "neg": -(1_i64 << 53),
            "i": 7_i32,
            "f": 1.5,
            "nan": f64::NAN,
            "inf": f64::NEG_INFINITY,
            "dec": Decimal128::from_bytes([0; 16]),
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "ts": Timestamp { time: 10, increment: 2 },
            "re": Regex { pattern: "^a".into(), options: "i".into() },
            "n": Bson::Null,
            "arr": [1_i32, "x", { "y": true }],
        };
        let j = document_to_json(&d).unwrap();
        assert_eq!(j["oid"], json!("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(j["when"], json!("2024-01-02T03:04:05.678Z"));
        assert_eq!(j["small"], json!(42));
        assert_eq!(j["big"], json!("9007199254740993"));
        assert_eq!(j["neg"], json!(-9_007_199_254_740_992_i64));
        assert_eq!(j["i"], json!(7));
        assert_eq!(j["f"], json!(1.5));
        assert_eq!(j["nan"], json!("NaN"));
        assert_eq!(j["inf"], json!("-Infinity"));
        assert!(j["dec"].is_string());
        assert_eq!(j["bin"], json!("AQID"));
        assert_eq!(j["ts"], json!({"t": 10, "i": 2}));
        assert_eq!(j["re"], json!("/^a/i"));
        assert_eq!(j["n"], Value::Null);
        assert_eq!(j["arr"], json!([1, "x", {"y": true}]));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut v = Bson::Int32(1);
        for _ in 0..10_000 {
            v = Bson::Array(vec![v]);
        }
        assert_eq!(bson_to_json(&v), Err(ConvertError::TooDeep));
        let mut shallow = Bson::Int32(1);
        for _ in 0..(MAX_DEPTH - 1) {
            shallow = Bson::Array(vec![shallow]);
        }
        assert!(bson_to_json(&shallow).is_ok());
    }

    pub(crate) fn arb_bson() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            any::<f64>().prop_map(Bson::Double),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<bool>().prop_map(Bson::Boolean),
            ".*".prop_map(Bson::String),
            any::<i64>().prop_map(|m| Bson::DateTime(DateTime::from_millis(m))),
            any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
            any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
            proptest::collection::vec(any::<u8>(), 0..32).prop_map(|bytes| Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes
            })),
            (any::<u32>(), any::<u32>())
                .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            Just(Bson::Null),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
            Just(Bson::Undefined),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Bson::Array),
                proptest::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|m| Bson::Document(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn conversion_never_panics_and_serializes(v in arb_bson()) {
            if let Ok(j) = bson_to_json(&v) {
                prop_assert!(serde_json::to_string(&j).is_ok());
            }
        }
    }
}
