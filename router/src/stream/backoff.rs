//! Pacing of resyncs after a dead stream position (286, 260, 280).
//!
//! The first dead position in a while is resynced at once; each further one
//! within [`CALM`] of the previous waits twice as long as the last (100 ms up
//! to 5 s), so a deployment that keeps losing history is not hammered with
//! `aggregate`s, `find`s and publishes.

use std::time::Duration;

use tokio::time::Instant;

/// First wait after a repeated dead position.
pub const FIRST: Duration = Duration::from_millis(100);
/// Longest wait.
pub const MAX: Duration = Duration::from_secs(5);
/// A dead position this long after the previous one starts over (no wait).
pub const CALM: Duration = Duration::from_secs(30);

/// The resync pacer of one leader.
#[derive(Debug, Default)]
pub struct ResyncBackoff {
    /// When the previous resync was asked for.
    last: Option<Instant>,
    /// The wait of the next repeated one.
    next: Duration,
}

impl ResyncBackoff {
    /// How long to wait before the resync asked for at `now`.
    pub fn delay(&mut self, now: Instant) -> Duration {
        let repeated = self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < CALM);
        self.last = Some(now);
        if repeated {
            let d = self.next.max(FIRST);
            self.next = (d * 2).min(MAX);
            d
        } else {
            self.next = FIRST;
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_at_once_then_doubling_capped_and_calm_resets() {
        let mut b = ResyncBackoff::default();
        let t = Instant::now();
        assert_eq!(b.delay(t), Duration::ZERO);
        let waits: Vec<u64> = (1..=8)
            .map(|i| b.delay(t + Duration::from_millis(i)).as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        let later = t + CALM + Duration::from_secs(1);
        assert_eq!(b.delay(later), Duration::ZERO, "calm for a while: at once");
        assert_eq!(b.delay(later + Duration::from_millis(1)), FIRST);
    }
}
