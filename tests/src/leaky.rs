//! The test-only leaky `herald-gateway`: built with the gateway's
//! `debug-leak` feature, which adds the hidden
//! `--debug-leak-bytes-per-connection` option.
//!
//! No workspace member enables that feature (cargo would unify it into
//! every build of the workspace, release builds included), so it is built
//! here, in its own target directory (`target/leaky`), where it cannot
//! replace the ordinary `target/<profile>/herald-gateway` the other tests
//! run. It is built once per test process ([`OnceLock`]); test processes
//! that ask at the same time are serialised by cargo's own lock on that
//! directory, and all but the first find it up to date.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::process::workspace_root;

/// The cargo feature of `herald-gateway` that compiles the leak in.
pub const FEATURE: &str = "debug-leak";

/// Where the leaky build goes, under the workspace root.
pub const TARGET_DIR: &str = "target/leaky";

/// The leaky gateway's path, building it on first use (a debug build, with
/// `--locked`); panics with cargo's output when the build fails.
pub fn leaky_gateway_bin() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(build)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `cargo build -p herald-gateway --features debug-leak --target-dir target/leaky`.
fn build() -> Result<PathBuf, String> {
    let root = workspace_root();
    let target = root.join(TARGET_DIR);
    // The cargo that runs the tests, when it says so; else the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--locked", "-p", "herald-gateway", "--bin"])
        .arg("herald-gateway")
        .args(["--features", FEATURE, "--target-dir"])
        .arg(&target)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!(
            "building the leaky gateway failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bin = target.join("debug").join("herald-gateway");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("cargo built no {}", bin.display()))
    }
}
