//! What a run produced, and its three renderings: a table on stdout, a
//! JSON file and a self-contained HTML page.

pub mod html;
pub mod json;
pub mod loadgen;
pub mod soak;
pub mod table;

use serde::{Deserialize, Serialize};

use crate::coordinator::SeriesPoint;
use crate::metrics_scrape::GatewaySample;
use crate::scenarios::publisher::PublisherStats;
use crate::stats::checker::CheckSummary;
use crate::stats::counters::Counters;
use crate::stats::histogram::Percentiles;
use crate::stats::leak::LeakAnalysis;
use loadgen::LoadGenReport;
use soak::SoakReport;

/// Exit code for a run whose deliveries or connects failed a check.
pub const EXIT_CHECK_FAILED: u8 = 2;
/// Exit code for a soak that found a leak.
pub const EXIT_LEAK: u8 = 3;
pub use soak::EXIT_INCONCLUSIVE;

/// One gateway's memory view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GatewayReport {
    /// The admin URL.
    pub admin: String,
    /// The scrape before the run.
    pub before: GatewaySample,
    /// The scrape at the end (connections still open).
    pub after: GatewaySample,
    /// `(after.rss - before.rss) / connections added`, in bytes.
    pub rss_per_connection_bytes: Option<f64>,
    /// RSS samples `(seconds, bytes)` (soak; bounded, see
    /// [`crate::stats::downsample`]).
    pub rss_samples: Vec<(f64, f64)>,
    /// Live-heap samples `(seconds, bytes)`, when the gateway exports
    /// `herald_process_heap_allocated_bytes` (soak).
    #[serde(default)]
    pub heap_samples: Vec<(f64, f64)>,
    /// Allocator-resident samples (soak, when exported).
    #[serde(default)]
    pub heap_resident_samples: Vec<(f64, f64)>,
    /// Allocator-retained samples (soak, when exported).
    #[serde(default)]
    pub heap_retained_samples: Vec<(f64, f64)>,
    /// The leak rule on the verdict's signal: the live heap, or RSS when
    /// the heap is not exported (soak).
    pub leak: Option<LeakAnalysis>,
    /// The same rule on RSS, when the verdict's signal is the heap (soak).
    #[serde(default)]
    pub rss_leak: Option<LeakAnalysis>,
    /// Set when RSS grows while the live heap does not (soak).
    #[serde(default)]
    pub retention: Option<String>,
}

/// Everything a run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunReport {
    /// The scenario name.
    pub scenario: String,
    /// The flags, as `name = value` pairs.
    pub params: Vec<(String, String)>,
    /// Wall time of the run, seconds.
    pub duration_s: f64,
    /// Summed worker counters.
    pub counters: Counters,
    /// Delivery latency over the whole run.
    pub latency: Option<Percentiles>,
    /// Connect latency (TCP + WebSocket + welcome).
    pub connect_latency: Option<Percentiles>,
    /// Avalanche: time from the drop to a client's full resubscription.
    pub recovery: Option<Percentiles>,
    /// Mean live deliveries per second over the publishing phase.
    pub deliveries_per_s: Option<f64>,
    /// CPU seconds all gateways used from the first publish to the end of
    /// the drain (from their `process_cpu_seconds_total`).
    #[serde(default)]
    pub server_cpu_seconds: Option<f64>,
    /// Live deliveries per gateway CPU-second over that window.
    #[serde(default)]
    pub deliveries_per_cpu_second: Option<f64>,
    /// The delivery check.
    pub check: Option<CheckSummary>,
    /// The publisher's totals.
    pub publisher: Option<PublisherStats>,
    /// Per-gateway memory.
    pub gateways: Vec<GatewayReport>,
    /// RSS per connection over all gateways, in bytes.
    pub rss_per_connection_bytes: Option<f64>,
    /// Per-second series (bounded; long runs merge seconds).
    pub series: Vec<SeriesPoint>,
    /// The load generator's CPU and loop lag, and whether it saturated.
    #[serde(default)]
    pub loadgen: Option<LoadGenReport>,
    /// True when the load generator, not the gateway, was the limit: its
    /// latency figures are partly the client's.
    #[serde(default)]
    pub saturated: bool,
    /// The soak's verdict (soak only).
    #[serde(default)]
    pub soak: Option<SoakReport>,
    /// Extra scenario facts, `name = value`.
    pub notes: Vec<(String, String)>,
    /// Why the run failed, empty when it passed.
    pub failures: Vec<String>,
    /// The process exit code the run earns.
    pub exit_code: u8,
}
