//! Metrics plumbing: the Prometheus recorder every binary installs, the
//! `/metrics` text it renders, and the standard process metrics.
//!
//! - [`render`]: [`MetricsRender`], installing the recorder and rendering.
//! - [`process`]: `process_*` metrics read from `/proc/self`.

pub mod process;
pub mod render;

pub use render::{LATENCY_BUCKETS, MetricsRender};

/// Gauge, by `version` and `binary`: always 1.
pub const BUILD_INFO: &str = "herald_build_info";
