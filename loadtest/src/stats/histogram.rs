//! Latency histograms: creation, percentiles, and the text form workers
//! send to the coordinator (hdrhistogram's V2 serializer, then base64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use serde::{Deserialize, Serialize};

/// The largest value a histogram records: one hour in microseconds.
/// Larger values are clamped to it.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// Why a histogram could not travel between processes.
#[derive(Debug, thiserror::Error)]
pub enum HistError {
    /// The base64 text was malformed.
    #[error("histogram base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The serialized histogram was malformed.
    #[error("histogram decode: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    /// Serializing failed (cannot happen for in-range histograms).
    #[error("histogram encode: {0:?}")]
    Encode(hdrhistogram::serialization::V2SerializeError),
    /// Two histograms could not be merged.
    #[error("histogram merge: {0:?}")]
    Merge(hdrhistogram::errors::AdditionError),
}

/// A new empty histogram for microsecond values, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid")
}

/// Records `micros`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, micros: u64) {
    // Clamped into range, so recording cannot fail.
    let _ = h.record(micros.clamp(1, MAX_MICROS));
}

/// Serializes `h` with the V2 serializer and base64-encodes it.
///
/// # Errors
/// [`HistError::Encode`] if the serializer refuses the histogram.
pub fn encode(h: &Histogram<u64>) -> Result<String, HistError> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(HistError::Encode)?;
    Ok(STANDARD.encode(buf))
}

/// The inverse of [`encode`].
///
/// # Errors
/// [`HistError`] when the text is not an encoded histogram.
pub fn decode(text: &str) -> Result<Histogram<u64>, HistError> {
    let bytes = STANDARD.decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistError::Decode)
}

/// Adds the histogram encoded in `text` into `into`.
///
/// # Errors
/// [`HistError`] when the text is malformed or the ranges do not fit.
pub fn merge_encoded(into: &mut Histogram<u64>, text: &str) -> Result<(), HistError> {
    let h = decode(text)?;
    into.add(&h).map_err(HistError::Merge)
}

/// Percentiles of a latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Percentiles {
    /// How many values were recorded.
    pub count: u64,
    /// The mean.
    pub mean_ms: f64,
    /// The median.
    pub p50_ms: f64,
    /// The 90th percentile.
    pub p90_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The 99.9th percentile.
    pub p999_ms: f64,
    /// The largest value.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `h` (microsecond values), or `None` when empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_histograms_from_workers_merge_into_one() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for v in 1..=1000 {
            record(&mut a, v);
        }
        for v in 1001..=2000 {
            record(&mut b, v);
        }
        let mut total = new_histogram();
        merge_encoded(&mut total, &encode(&a).unwrap()).unwrap();
        merge_encoded(&mut total, &encode(&b).unwrap()).unwrap();
        assert_eq!(total.len(), 2000);
        let p = Percentiles::of(&total).unwrap();
        assert!((p.p50_ms - 1.0).abs() < 0.01, "{p:?}");
        assert!((p.max_ms - 2.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn out_of_range_values_are_clamped_and_garbage_is_an_error() {
        let mut h = new_histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= MAX_MICROS);
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
        assert!(Percentiles::of(&new_histogram()).is_none());
    }
}
