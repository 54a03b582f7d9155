//! Herald router: tails MongoDB change streams (one per configured scope)
//! and publishes each change into rooms on the Redis bus, exactly once and
//! in order per room, across crashes, failovers and restarts.
//!
//! # Layout
//! - [`config`]: flags / env / TOML ([`config::args`]) and the rules file ([`config::rules`]).
//! - [`rules`]: the rules model, its validation, room templates, the filter matcher.
//! - [`convert`]: BSON to JSON (the documented mapping, as a tree: the reference).
//! - [`as_json`]: the same mapping written as JSON text straight from a raw event (the payload path).
//! - [`stream`]: where MongoDB is tailed: open/resume, the reader, the batch loop,
//!   the resync backoff, tokens.
//! - [`collection`]: live collections: the leader's cache of sets, what each
//!   event does to them (upsert, patch, remove; the top-N window), their
//!   publications and bounded queries.
//! - [`publish`]: events to publications; publishing a batch until accepted.
//! - [`checkpoint`]: the fenced resume-token checkpoint in Redis.
//! - [`lease`]: per-scope leadership and fencing tokens.
//! - [`resync`]: rebuilding rooms after a dead position (signal first, then fresh state).
//! - [`scope`]: one scope's standby/leader cycle.
//! - [`keys`]: the router's Redis keys.
//! - [`metrics`]: metric names and helpers.
//! - [`admin`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`app`]: wiring it all together.

pub mod admin;
pub mod app;
pub mod as_json;
pub mod checkpoint;
pub mod collection;
pub mod config;
pub mod convert;
pub mod keys;
pub mod lease;
pub mod metrics;
pub mod publish;
pub mod resync;
pub mod rules;
pub mod scope;
pub mod stream;
