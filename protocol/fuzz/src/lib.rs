//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use serde::Serialize;
use serde_json::Value;

/// How many units in the last place two floats may differ by and still count
/// as the same number after a trip through JSON.
///
/// The workspace builds `serde_json` without its `float_roundtrip` feature,
/// so parsing JSON text rounds some floats one unit off: a float read from
/// MessagePack, written as JSON and parsed again can come back as its
/// neighbour (`docs/fuzzing.md`, "Findings"). Set this to 0 once the feature
/// is on, and the round-trip properties become exact.
pub const FLOAT_ULPS: u64 = 1;

/// Whether `a` and `b` serialize to the same JSON, floats compared within
/// [`FLOAT_ULPS`].
///
/// # Panics
/// When either value cannot be represented as JSON (a protocol type with a
/// non-string map key), which no protocol type allows.
pub fn same<T: Serialize>(a: &T, b: &T) -> bool {
    let a = serde_json::to_value(a).expect("protocol types serialize to JSON");
    let b = serde_json::to_value(b).expect("protocol types serialize to JSON");
    same_json(&a, &b)
}

/// Whether two JSON values are equal, floats compared within [`FLOAT_ULPS`].
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => ulps_apart(p, q) <= FLOAT_ULPS,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// How many representable doubles lie between `a` and `b` (finite, as JSON
/// numbers are).
fn ulps_apart(a: f64, b: f64) -> u64 {
    if a == b {
        0
    } else if a.is_sign_negative() != b.is_sign_negative() {
        u64::MAX
    } else {
        a.to_bits().abs_diff(b.to_bits())
    }
}
