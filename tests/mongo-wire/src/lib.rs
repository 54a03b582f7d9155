//! MongoDB wire-protocol test server.
//!
//! # Layout
