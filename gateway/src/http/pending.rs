//! The cap on client connections accepted whose first request's headers
//! have not arrived yet (`--max-pending-http-connections`): the slots a
//! slowloris client would hold until the 10 s header timeout. A connection
//! leaves the count when its first request reaches the router (so an
//! upgraded WebSocket or a long poll never counts) or when it closes; past
//! the cap a new connection is closed at accept and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::metrics::GatewayMetrics;

/// The node's pending-connection count and its cap.
pub struct PendingLimit {
    /// The cap.
    max: usize,
    /// Connections pending now.
    now: AtomicUsize,
    /// Where refusals and the gauge go.
    metrics: Arc<GatewayMetrics>,
}

impl PendingLimit {
    /// No connection pending yet; at most `max` at once.
    pub fn new(max: usize, metrics: Arc<GatewayMetrics>) -> Arc<Self> {
        Arc::new(Self {
            max,
            now: AtomicUsize::new(0),
            metrics,
        })
    }

    /// Takes a slot for a just-accepted connection; `None` (counted in
    /// `herald_gateway_pending_http_refusals_total`) when all are taken.
    pub fn try_take(self: &Arc<Self>) -> Option<Arc<PendingSlot>> {
        let taken = self
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(n) => {
                self.metrics.pending_http(n + 1);
                Some(Arc::new(PendingSlot {
                    limit: self.clone(),
                    released: AtomicBool::new(false),
                }))
            }
            Err(_) => {
                self.metrics.pending_http_refusal();
                None
            }
        }
    }

    /// Connections pending now.
    pub fn pending(&self) -> usize {
        self.now.load(Ordering::Acquire)
    }
}

/// One pending connection's slot: released by its first request or when
/// dropped, whichever comes first.
pub struct PendingSlot {
    /// The count it belongs to.
    limit: Arc<PendingLimit>,
    /// Whether it was given back.
    released: AtomicBool,
}

impl PendingSlot {
    /// Gives the slot back (idempotent).
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            let left = self.limit.now.fetch_sub(1, Ordering::AcqRel) - 1;
            self.limit.metrics.pending_http(left);
        }
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_come_back_once_each() {
        let limit = PendingLimit::new(2, Arc::new(GatewayMetrics::new(false)));
        let a = limit.try_take().unwrap();
        let b = limit.try_take().unwrap();
        assert!(limit.try_take().is_none(), "past the cap");
        a.release();
        a.release();
        assert_eq!(limit.pending(), 1, "a second release gives nothing back");
        let c = limit.try_take().unwrap();
        assert!(limit.try_take().is_none());
        drop(a);
        assert_eq!(
            limit.pending(),
            2,
            "dropping a released slot gives nothing back"
        );
        drop(b);
        drop(c);
        assert_eq!(limit.pending(), 0);
    }
}
