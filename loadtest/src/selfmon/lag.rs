//! An event-loop lag probe: a task that asks to wake every
//! [`PERIOD`] and records how late it woke, in microseconds.
//!
//! A runtime whose threads are all busy (or not scheduled by the kernel)
//! wakes the probe late, and it wakes a socket's reader late by about as
//! much: the lag is time a message can spend in the client before it is
//! timed.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stats::histogram;

/// How often the probe asks to wake.
pub const PERIOD: Duration = Duration::from_millis(10);

/// A running probe; dropping it stops the task.
#[derive(Debug)]
pub struct LagProbe {
    hist: Arc<Mutex<Histogram<u64>>>,
    task: JoinHandle<()>,
}

impl LagProbe {
    /// Starts the probe on the current runtime.
    pub fn spawn() -> Self {
        let hist = Arc::new(Mutex::new(histogram::new_histogram()));
        let h = hist.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "the probe owns the handle and aborts the task when it drops"
        )]
        let task = tokio::spawn(async move {
            let mut next = Instant::now() + PERIOD;
            loop {
                tokio::time::sleep_until(next).await;
                let now = Instant::now();
                histogram::record(&mut h.lock(), (now - next).as_micros() as u64);
                next += PERIOD;
                if next <= now {
                    // Far behind: measure from now rather than pile up.
                    next = now + PERIOD;
                }
            }
        });
        Self { hist, task }
    }

    /// The lateness recorded since the last call (or the start), and resets.
    pub fn take(&self) -> Histogram<u64> {
        let mut h = self.hist.lock();
        let out = h.clone();
        h.reset();
        out
    }
}

impl Drop for LagProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_shows_up_as_lag() {
        let probe = LagProbe::spawn();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let idle = probe.take();
        assert!(idle.len() >= 3, "{}", idle.len());
        // Block the only thread for 80 ms: the next wake is about that late.
        std::thread::sleep(Duration::from_millis(80));
        tokio::time::sleep(Duration::from_millis(15)).await;
        let busy = probe.take();
        assert!(busy.max() >= 60_000, "max lag {} us", busy.max());
    }
}
