//! The `herald-mongo-wire` binary.
fn main() {}
