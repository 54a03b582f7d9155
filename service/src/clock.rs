//! Wall-clock helpers. Durations and deadlines use tokio's clock instead
//! (`tokio::time::Instant`), so timing logic can be tested with paused time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds (0 if the clock is before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Now, in Unix seconds with a fraction (0 if the clock is before 1970).
pub fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Now, in Unix nanoseconds (0 if the clock is before 1970).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_and_milliseconds_agree() {
        let ms = super::unix_ms();
        let s = super::unix_seconds();
        assert!(ms > 1_600_000_000_000, "{ms}");
        assert!((s * 1000.0 - ms as f64).abs() < 5_000.0, "{s} vs {ms}");
        let ns = super::unix_nanos();
        assert!((ns / 1_000_000).abs_diff(ms) < 5_000, "{ns} vs {ms}");
    }
}
