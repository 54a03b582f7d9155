//! Closing each delivery's measurements: `herald_gateway_fanout_seconds`
//! (arrival at the node to the last local subscriber written) and
//! `herald_end_to_end_lag_seconds` (source commit to that write), plus the
//! delivered counter. A delivery that is dropped (its subscriber closed or
//! was too slow) still completes the fan-out, so the slowest cases are
//! measured too.

use std::sync::Arc;

use super::frames::Broadcast;
use crate::metrics::{GatewayMetrics, TransportIdx};

/// `n` subscribers of `b` were handled (written, skipped or dropped);
/// records the fan-out once the last one is.
pub fn done(metrics: &GatewayMetrics, b: &Broadcast, n: usize) {
    if b.fanout_done(n) {
        metrics.fanout.record(b.arrived.elapsed().as_secs_f64());
        let src = b.src_ts_ms.unwrap_or(b.ts_ms) as f64 / 1000.0;
        metrics
            .end_to_end
            .record((herald_service::clock::unix_seconds() - src).max(0.0));
    }
}

/// Live deliveries written by a connection on transport `t`: counted and
/// completed.
pub fn written(metrics: &GatewayMetrics, t: TransportIdx, list: &[Arc<Broadcast>]) {
    if list.is_empty() {
        return;
    }
    metrics.count_delivered(t, list.len() as u64);
    for b in list {
        done(metrics, b, 1);
    }
}

/// Live deliveries that will never be written: completed, not counted as
/// delivered.
pub fn dropped(metrics: &GatewayMetrics, list: &[Arc<Broadcast>]) {
    for b in list {
        done(metrics, b, 1);
    }
}
