//! Herald router.
//!
//! # Layout
//! (filled in as modules land)
