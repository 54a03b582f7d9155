//! The `herald-gateway` binary.
fn main() {}
