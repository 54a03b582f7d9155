//! The `herald-loadtest` binary.
fn main() {}
