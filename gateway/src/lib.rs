//! Herald's gateway node.
//!
//! # Layout
//! - [`bus`]: the bus abstraction and its implementations.
pub mod bus;
