//! Service plumbing shared by every Herald binary (gateway, router, load
//! generator). Nothing here knows about rooms, buses or transports.
//!
//! # Layout
//! - [`config`]: the optional TOML file overlaid on clap flags and
//!   `HERALD_*` variables, and [`config::ConfigError`]. Binaries parse at
//!   their edge; libraries take typed configs.
//! - [`telemetry`]: the tracing subscriber.
//! - [`signal`]: waiting for SIGTERM or Ctrl-C.
//! - [`metrics`]: the Prometheus recorder, `/metrics` rendering, the
//!   standard process metrics and the allocator's heap metrics.
//! - [`backoff`]: the one capped, jittered exponential backoff.
//! - [`clock`]: wall-clock helpers (Unix milliseconds and seconds).

pub mod backoff;
pub mod clock;
pub mod config;
pub mod metrics;
pub mod signal;
pub mod telemetry;

// The heap metrics' tests measure jemalloc, as every Herald binary runs on it.
#[cfg(test)]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
