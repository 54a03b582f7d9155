//! Installs the Prometheus recorder and renders `/metrics`.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::{names, process};

/// Latency buckets, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The rendering side of the recorder.
#[derive(Clone)]
pub struct MetricsRender {
    /// The exporter's handle, if metrics are on.
    handle: Option<PrometheusHandle>,
}

impl MetricsRender {
    /// Installs the global recorder (once per process) when `enabled`, and
    /// starts its upkeep task, which bounds histogram sample memory.
    ///
    /// # Errors
    /// A string when a recorder was already installed by someone else.
    pub fn install(enabled: bool, binary: &'static str) -> Result<Self, String> {
        if !enabled {
            return Ok(Self { handle: None });
        }
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .map_err(|e| e.to_string())?
            .install_recorder()
            .map_err(|e| e.to_string())?;
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "binary" => binary).set(1.0);
        // A rare-event counter that no handle registers (only the Redis bus
        // records it): exported at 0 from the start, so the dashboard and
        // `rate()` see it before the first event, and in standalone mode.
        metrics::counter!(names::BUS_INVALID_FRAMES).increment(0);
        Ok(Self {
            handle: Some(handle),
        })
    }

    /// The Prometheus text exposition, with process metrics appended.
    pub fn render(&self) -> String {
        let mut out = self
            .handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default();
        process::render(&mut out);
        out
    }
}
