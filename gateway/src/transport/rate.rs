//! A token bucket per connection for the frames a client sends: `rate`
//! frames a second on average, `burst` at once. Past it the session is
//! closed with 4010 (`frame_flood`), so one flooding client costs the
//! gateway a bounded amount of work and the others never pay for it.

use tokio::time::Instant;

/// The bucket's settings (`--max-client-frames-per-sec`,
/// `--client-frames-burst`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRate {
    /// Frames a second refilled.
    pub per_sec: f32,
    /// The most frames taken at once.
    pub burst: f32,
}

/// One connection's bucket.
#[derive(Debug)]
pub struct Bucket {
    tokens: f32,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: FrameRate) -> Self {
        Self {
            tokens: rate.burst,
            last: Instant::now(),
        }
    }

    /// Takes one frame's token; `false` when the client is over the rate.
    pub fn take(&mut self, rate: FrameRate) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f32() * rate.per_sec;
        self.tokens = (self.tokens + refill).min(rate.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_the_rate_holds() {
        let rate = FrameRate {
            per_sec: 10.0,
            burst: 5.0,
        };
        let mut b = Bucket::new(rate);
        assert!((0..5).all(|_| b.take(rate)), "the burst");
        assert!(!b.take(rate), "past the burst");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(b.take(rate), "one frame refilled in 100 ms");
        assert!(!b.take(rate));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!((0..5).all(|_| b.take(rate)), "refills only up to the burst");
        assert!(!b.take(rate));
    }
}
