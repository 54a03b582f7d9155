//! Herald's load generator: drives up to 100,000 WebSocket clients from
//! several worker processes, publishes numbered messages, checks every
//! delivery, and reports latency, memory per connection and leak verdicts.
//!
//! # Layout
//! - [`cli`]: the clap command line (every flag documented in `--help`).
//! - [`coordinator`]: starts worker processes (this binary re-executed as
//!   the hidden `worker` subcommand) and merges their reports.
//! - [`worker`]: one worker process: its clients, its once-a-second reports.
//! - [`plan`]: the JSON lines between coordinator and workers.
//! - [`client`]: the client side of a connection, one module per transport
//!   ([`client::native`] now, [`client::socketio`] later).
//! - [`scenarios`]: `connect`, `fanout`, `churn`, `avalanche`, `soak`, plus
//!   the [`scenarios::publisher`] and [`scenarios::rooms`] (uniform/Zipf).
//! - [`stats`]: latency histograms, the delivery [`stats::checker`],
//!   [`stats::counters`], the soak's [`stats::leak`] rule (Theil–Sen slopes
//!   over windows), [`stats::contention`], [`stats::saturation`] and the
//!   bounded [`stats::downsample`] series.
//! - [`selfmon`]: the load generator's own CPU and event-loop lag.
//! - [`metrics_scrape`]: reading a gateway's `/metrics`.
//! - [`report`]: the stdout table, the JSON file and the HTML page.
//! - [`token`]: the connection token clients send (`--token`, or minted
//!   from `--jwt-hmac-secret`).
//!
//! Exit codes: 0 pass, 1 error, 2 a check failed (loss, duplicates,
//! connect failures, publish errors), 3 the soak found a leak, 4 the soak
//! was inconclusive (too few samples, or a leak-like slope on a contended
//! machine or with a saturated load generator).

pub mod cli;
pub mod client;
pub mod coordinator;
pub mod metrics_scrape;
pub mod plan;
pub mod report;
pub mod scenarios;
pub mod selfmon;
pub mod stats;
pub mod token;
pub mod worker;
