//! Single-flight history reads: when many sessions need the same room's
//! history at once (a resync, an epoch change, a gap seen by every
//! subscriber, an avalanche of reconnects), they share one bus read.
//!
//! A request never shares a read that began before its session joined the
//! room: such a read could miss what was published between its start and
//! the join, which the live feed does not bring either. Each request says
//! when its session joined (a [`SingleFlight::tick`] taken after the join),
//! and shares a running read only if that read started later; otherwise it
//! waits for the read to end and joins the next one. Sessions long in a
//! room (refills after a resync, a gap, an epoch change) all share one
//! read; a burst of new subscribers costs at most two.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::{Notify, OnceCell};

/// One read, shared by its requests.
struct Flight<T, E> {
    /// The tick when it started: sessions that joined before share it.
    started: u64,
    /// The read's result, set by whichever request drives it.
    cell: OnceCell<Result<T, E>>,
    /// Set when the read ended (or its driver gave up).
    ended: AtomicBool,
    /// Wakes the requests waiting for this read to end.
    on_end: Notify,
}

impl<T, E> Flight<T, E> {
    fn new(started: u64) -> Arc<Self> {
        Arc::new(Self {
            started,
            cell: OnceCell::new(),
            ended: AtomicBool::new(false),
            on_end: Notify::new(),
        })
    }

    async fn wait_ended(&self) {
        loop {
            let notified = self.on_end.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.ended.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Coalesces concurrent reads by key. See the module docs.
pub struct SingleFlight<K, T, E> {
    /// The read running for each key; a key without one is absent.
    slots: Mutex<HashMap<K, Arc<Flight<T, E>>>>,
    /// The clock that orders joins and reads.
    ticks: AtomicU64,
}

impl<K, T, E> Default for SingleFlight<K, T, E> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            ticks: AtomicU64::new(1),
        }
    }
}

/// Ends a flight however its driver stops (done, or dropped mid-read):
/// forgets it and wakes the requests waiting for it to end.
struct EndGuard<'a, K: Hash + Eq, T, E> {
    /// The owner.
    owner: &'a SingleFlight<K, T, E>,
    /// The key.
    key: &'a K,
    /// The flight that ends.
    flight: &'a Arc<Flight<T, E>>,
}

impl<K: Hash + Eq, T, E> Drop for EndGuard<'_, K, T, E> {
    fn drop(&mut self) {
        let mut slots = self.owner.slots.lock();
        if slots
            .get(self.key)
            .is_some_and(|f| Arc::ptr_eq(f, self.flight))
        {
            slots.remove(self.key);
        }
        drop(slots);
        self.flight.ended.store(true, Ordering::Release);
        self.flight.on_end.notify_waiters();
    }
}

impl<K, T, E> SingleFlight<K, T, E>
where
    K: Hash + Eq + Clone,
    T: Clone,
    E: Clone,
{
    /// A tick of the clock reads are ordered by: take one after a
    /// session's join, and pass it to [`SingleFlight::run`] as `after`.
    pub fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::AcqRel)
    }

    /// Runs `read` for `key`, or shares the result of a read for `key`
    /// that started after tick `after`.
    ///
    /// # Errors
    /// The read's error, shared by every request of that read.
    pub async fn run<F, Fut>(&self, key: K, after: u64, read: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let flight = loop {
            let running = {
                let mut slots = self.slots.lock();
                match slots.get(&key) {
                    // A read that started after the join: share it.
                    Some(f) if f.started > after => break f.clone(),
                    // One that began before: wait it out.
                    Some(f) => f.clone(),
                    None => {
                        let f = Flight::new(self.tick());
                        slots.insert(key.clone(), f.clone());
                        break f;
                    }
                }
            };
            running.wait_ended().await;
        };
        flight
            .cell
            .get_or_init(|| async {
                let _end = EndGuard {
                    owner: self,
                    key: &key,
                    flight: &flight,
                };
                read().await
            })
            .await
            .clone()
    }

    /// Keys with a read running.
    pub fn len(&self) -> usize {
        self.slots.lock().len()
    }

    /// Whether no read is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests own and await their tasks")]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_one_read_and_later_ones_the_next() {
        let sf = Arc::new(SingleFlight::<&str, usize, ()>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| async move {
            let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(n)
        };
        // Sessions that joined long ago (tick 0) share the running read.
        let old = sf.tick();
        let first = {
            let (sf, reads) = (sf.clone(), reads.clone());
            tokio::spawn(async move { sf.run("room", old, || read(reads)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut shared = Vec::new();
        for _ in 0..20 {
            let (sf, reads) = (sf.clone(), reads.clone());
            shared.push(tokio::spawn(async move {
                sf.run("room", old, || read(reads)).await
            }));
        }
        // Sessions that joined after it started wait for the next read.
        let mut later = Vec::new();
        for _ in 0..30 {
            let (sf, reads) = (sf.clone(), reads.clone());
            let joined = sf.tick();
            later.push(tokio::spawn(async move {
                sf.run("room", joined, || read(reads)).await
            }));
        }
        assert_eq!(first.await.unwrap(), Ok(1));
        for s in shared {
            assert_eq!(s.await.unwrap(), Ok(1));
        }
        for l in later {
            assert_eq!(l.await.unwrap(), Ok(2));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert!(sf.is_empty(), "keys are forgotten once their reads end");
        // Another key reads on its own.
        let t = sf.tick();
        assert_eq!(sf.run("other", t, || read(reads.clone())).await, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_driver_does_not_strand_the_requests_behind_it() {
        let sf = Arc::new(SingleFlight::<&str, u32, ()>::default());
        let driver = {
            let sf = sf.clone();
            tokio::spawn(async move {
                let t = sf.tick();
                sf.run("room", t, || async {
                    std::future::pending::<()>().await;
                    Ok(0)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let queued = {
            let sf = sf.clone();
            let t = sf.tick();
            tokio::spawn(async move { sf.run("room", t, || async { Ok(7) }).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        driver.abort();
        assert_eq!(queued.await.unwrap(), Ok(7));
    }
}
