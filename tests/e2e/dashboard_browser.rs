//! The dashboard page in headless Chromium against a real standalone
//! gateway: it loads, shows a snapshot, then live updates, and focusing a
//! section switches rooms. The browser side is `tests/js/dashboard.mjs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use herald_tests::gateway::GatewayProc;

#[test]
fn the_dashboard_page_shows_a_snapshot_then_live_updates() {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/js first (scripts/test.sh does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is required: apt-get install -y chromium (scripts/test.sh does)"
    );
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "4"]);
    let out = Command::new("node")
        .arg(js.join("dashboard.mjs"))
        .arg(format!("http://{}/", gw.client))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser check failed:\n{stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.proc.log_text()
    );
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
}
