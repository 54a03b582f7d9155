//! Node scripts under `tests/js/` (the real `socket.io-client`), run
//! against a gateway: each prints JSON progress lines and a final
//! `{"ok":true,...}` line.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::gateway::GatewayProc;
use crate::process::Proc;

/// How long one script may run (each script also has its own watchdog).
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// `tests/js/`, checked to hold its npm packages.
pub fn js_dir() -> PathBuf {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        js.join("node_modules/socket.io-client").exists(),
        "run `npm ci` in tests/js first (scripts/test.sh does)"
    );
    js
}

/// Starts `node tests/js/<script> <client> <admin> <args...>`.
pub fn node(gw: &GatewayProc, script: &str, args: &[&str]) -> Proc {
    node_at(&format!("http://{}", gw.client), gw, script, args, &[])
}

/// Like [`node`], with the client listener at `client_url` (an
/// `https://` one, say) and extra environment variables (such as
/// `NODE_EXTRA_CA_CERTS`, the CA Node trusts besides its own).
pub fn node_at(
    client_url: &str,
    gw: &GatewayProc,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    let mut all = vec![
        js_dir().join(script).display().to_string(),
        client_url.to_owned(),
        gw.admin_url(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    Proc::spawn_env(std::path::Path::new("node"), &all, env)
}

/// Waits for the script's final line and returns it, asserting success.
pub fn finish(gw: &GatewayProc, mut p: Proc) -> Value {
    let deadline = std::time::Instant::now() + SCRIPT_TIMEOUT;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match p.stdout.recv_timeout(left) {
            Ok(line) if line.contains("\"ok\":true") => {
                last = Some(line);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let code = p.wait_exit(Duration::from_secs(5));
    let Some(line) = last.filter(|_| code == Some(0)) else {
        panic!(
            "script failed (exit {code:?}):\n{}\ngateway log:\n{}",
            p.log_text(),
            gw.proc.log_text()
        );
    };
    serde_json::from_str(&line).expect("final line is JSON")
}
