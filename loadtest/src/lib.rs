//! Herald loadtest.
//!
//! # Layout
//! (filled in as modules land)
