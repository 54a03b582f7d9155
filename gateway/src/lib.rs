//! Herald's gateway node.
//!
//! # Layout
//! (filled in as modules land)
