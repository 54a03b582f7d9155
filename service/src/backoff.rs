//! Capped exponential backoff with jitter: the one retry schedule every
//! Herald component uses when a store is unreachable.

use std::time::Duration;

/// Capped exponential backoff. Each delay is uniform in `[ceiling/2,
/// ceiling]`; the ceiling doubles from `min` to `max` and returns to `min`
/// after [`Backoff::reset`]. The jitter keeps a fleet of clients that lost
/// the same server from retrying in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first ceiling, and the one after a reset.
    min: Duration,
    /// The largest ceiling.
    max: Duration,
    /// The next ceiling.
    current: Duration,
}

impl Backoff {
    /// A backoff from `min` to `max` (`max` below `min` is raised to it).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The next delay, then doubles the ceiling up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Sleeps for [`Backoff::next_delay`]; returns `false` without waiting
    /// out the delay if `stop` fires first.
    pub async fn wait(&mut self, stop: &tokio_util::sync::CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            () = stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Back to the minimum, after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_with_jitter_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let ceilings = [100, 200, 400, 400, 400];
        for c in ceilings {
            let d = b.next_delay();
            let c = Duration::from_millis(c);
            assert!(d >= c / 2 && d <= c, "{d:?} not in [{:?}, {c:?}]", c / 2);
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_gives_up_when_stopped() {
        let stop = tokio_util::sync::CancellationToken::new();
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        stop.cancel();
        assert!(!b.wait(&stop).await);
        let live = tokio_util::sync::CancellationToken::new();
        let started = tokio::time::Instant::now();
        assert!(b.wait(&live).await);
        assert!(started.elapsed() >= Duration::from_secs(5));
    }
}
