//! The end-to-end test harness.
//!
//! # Layout
//! (filled in as modules land)
pub mod promql;
