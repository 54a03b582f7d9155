//! The `herald-router` binary.
fn main() {}
