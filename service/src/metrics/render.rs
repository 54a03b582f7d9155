//! Installs the Prometheus recorder and renders `/metrics`.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{BUILD_INFO, heap, process};

/// Latency buckets for every `*_seconds` histogram, in seconds: 100 µs to
/// 10 s, with 1.5 ms and 2 ms so that sub-floor fan-out targets can be read.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the recorder's upkeep runs (it bounds histogram sample memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The rendering side of the recorder.
#[derive(Clone)]
pub struct MetricsRender {
    /// The exporter's handle, if metrics are on.
    handle: Option<PrometheusHandle>,
}

impl MetricsRender {
    /// Installs the global recorder (once per process) when `enabled`, sets
    /// `herald_build_info{binary}`, and runs the recorder's upkeep on
    /// `tasks` until `stop` fires.
    ///
    /// # Errors
    /// A string when a recorder was already installed by someone else.
    pub fn install(
        enabled: bool,
        binary: &'static str,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Result<Self, String> {
        if !enabled {
            return Ok(Self { handle: None });
        }
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .map_err(|e| e.to_string())?
            .install_recorder()
            .map_err(|e| e.to_string())?;
        let upkeep = handle.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => upkeep.run_upkeep(),
                }
            }
        });
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "binary" => binary)
            .set(1.0);
        Ok(Self {
            handle: Some(handle),
        })
    }

    /// A renderer with no recorder behind it: only process and heap metrics.
    pub fn disabled() -> Self {
        Self { handle: None }
    }

    /// The Prometheus text exposition, with the process and heap metrics
    /// appended.
    pub fn render(&self) -> String {
        let mut out = self
            .handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default();
        process::render(&mut out);
        heap::render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::MetricsRender;
    use crate::metrics::heap::{HEAP_ALLOCATED, HEAP_RESIDENT, HEAP_RETAINED};

    #[test]
    fn the_rendered_text_carries_the_process_and_heap_series() {
        let text = MetricsRender::disabled().render();
        for name in [
            "process_resident_memory_bytes",
            HEAP_ALLOCATED,
            HEAP_RESIDENT,
            HEAP_RETAINED,
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} missing from:\n{text}"
            );
        }
    }
}
