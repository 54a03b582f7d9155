//! Metrics plumbing: the Prometheus recorder every binary installs, the
//! `/metrics` text it renders, and the standard process metrics.
//!
//! - [`render`]: [`MetricsRender`], installing the recorder and rendering.
//! - [`process`]: `process_*` metrics read from `/proc/self`.
//! - [`heap`]: `herald_process_heap_*_bytes`, the allocator's (jemalloc's)
//!   live, resident and retained bytes.

pub mod heap;
pub mod process;
pub mod render;

pub use render::{LATENCY_BUCKETS, MetricsRender};

/// Gauge, by `version` and `binary`: always 1.
pub const BUILD_INFO: &str = "herald_build_info";
