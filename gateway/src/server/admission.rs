//! Connection admission: the connection limit and the per-transport gauge.
//! In a test build (feature `debug-leak`) it can also leak on purpose, for
//! the soak test's leak detector; no other build has that code.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::metrics::GatewayMetrics;

/// Counts live client connections against the limit.
pub struct Admission {
    /// Live connections.
    live: AtomicUsize,
    /// The limit.
    max: usize,
    /// Metric handles.
    metrics: Arc<GatewayMetrics>,
    /// Test builds only: bytes to leak per admitted connection.
    #[cfg(feature = "debug-leak")]
    leak_bytes: usize,
}

/// A live connection's place; dropping it frees the place.
pub struct ConnPermit {
    /// The admission it came from.
    admission: Arc<Admission>,
    /// The transport label.
    transport: &'static str,
    /// Its place under the per-address limit, when one is set.
    pub ip: Option<super::per_ip::IpPermit>,
}

impl Admission {
    /// Admission with `max` places.
    pub fn new(max: usize, metrics: Arc<GatewayMetrics>) -> Arc<Self> {
        Arc::new(Self {
            live: AtomicUsize::new(0),
            max,
            metrics,
            #[cfg(feature = "debug-leak")]
            leak_bytes: 0,
        })
    }

    /// Test builds only: admission with `max` places that leaks (and
    /// touches) `leak_bytes` per admitted connection.
    #[cfg(feature = "debug-leak")]
    pub fn leaking(max: usize, metrics: Arc<GatewayMetrics>, leak_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            live: AtomicUsize::new(0),
            max,
            metrics,
            leak_bytes,
        })
    }

    /// Takes a place, or `None` when the gateway is full.
    pub fn try_admit(self: &Arc<Self>, transport: &'static str) -> Option<ConnPermit> {
        let admitted = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            self.metrics
                .disconnect(herald_protocol::native::CloseCode::ConnectionLimit.name());
            return None;
        }
        self.metrics.connections(transport, 1.0);
        #[cfg(feature = "debug-leak")]
        if self.leak_bytes > 0 {
            // Deliberate, for the soak test's leak detector (test builds only).
            let leaked: &'static mut [u8] =
                Box::leak(vec![0xA5u8; self.leak_bytes].into_boxed_slice());
            std::hint::black_box(leaked);
        }
        Some(ConnPermit {
            admission: self.clone(),
            transport,
            ip: None,
        })
    }

    /// Live connections.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.admission.live.fetch_sub(1, Ordering::AcqRel);
        self.admission.metrics.connections(self.transport, -1.0);
    }
}
