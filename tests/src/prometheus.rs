//! A real Prometheus server (and `promtool`) for tests: Debian's
//! `prometheus` package, started on a free port with a throw-away config
//! and data directory, and queried through its HTTP API.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::process::Proc;

/// What to install when a Prometheus binary is missing.
const INSTALL_HINT: &str = "install Debian's `prometheus` package (apt-get install prometheus), \
     which ships both `prometheus` and `promtool`; scripts/check-grafana.sh does it for you";

/// Finds `name` on `PATH`; panics with an install hint when it is missing.
pub fn find_tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found on PATH: {INSTALL_HINT}"))
}

/// Runs `promtool` with `args` in `dir` and returns its output; panics when
/// promtool is missing or cannot be started.
pub fn promtool(dir: &Path, args: &[&str]) -> Output {
    let tool = find_tool("promtool");
    Command::new(&tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()))
}

/// A running Prometheus that scrapes the given targets every second; killed
/// (and its data directory removed) when dropped.
pub struct PrometheusProc {
    /// The server process (killed on drop).
    proc: Proc,
    /// `--web.listen-address`.
    pub addr: SocketAddr,
    /// Config file and TSDB, removed on drop.
    dir: PathBuf,
}

impl PrometheusProc {
    /// Starts Prometheus scraping `targets` (`host:port` of `/metrics`
    /// endpoints) as one job named `job`, every second, and waits until it
    /// is ready. Panics with the server's log if it does not get ready in
    /// 30 s.
    pub fn start(job: &str, targets: &[SocketAddr]) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "herald-prometheus-{}-{}",
            std::process::id(),
            nanos ^ rand_bits()
        ));
        std::fs::create_dir_all(dir.join("data")).expect("prometheus temp dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, scrape_config(job, targets)).expect("prometheus config");
        // A free port can be taken between our probe and Prometheus' bind:
        // try a few.
        let mut last_log = String::new();
        for _ in 0..3 {
            let addr = free_port();
            let mut proc = Proc::spawn(
                &find_tool("prometheus"),
                &[
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", dir.join("data").display()),
                    format!("--web.listen-address={addr}"),
                    "--log.level=warn".into(),
                ],
            );
            if wait_ready(&mut proc, addr, Duration::from_secs(30)) {
                return Self { proc, addr, dir };
            }
            last_log = proc.log_text();
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("prometheus did not become ready; log:\n{last_log}");
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs an instant query; returns the value of its single sample, or
    /// `None` when the result is empty. Panics on an API error or on a
    /// result with several samples.
    pub async fn query_scalar(&self, expr: &str) -> Option<f64> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url()))
            .query(&[("query", expr)])
            .send()
            .await
            .expect("GET /api/v1/query")
            .json()
            .await
            .expect("query reply is JSON");
        assert_eq!(body["status"], "success", "query {expr}: {body}");
        let result = body["data"]["result"].as_array().expect("result list");
        assert!(
            result.len() <= 1,
            "query {expr} gave several series: {body}"
        );
        let value = result.first()?["value"][1].as_str()?;
        Some(value.parse().expect("sample value is a number"))
    }

    /// Polls `expr` every 250 ms until its value is `want`, for up to
    /// `timeout`; returns the last value seen (compare it to `want`).
    pub async fn wait_for_value(&self, expr: &str, want: f64, timeout: Duration) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.query_scalar(expr).await;
            if got == Some(want) || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }
}

impl Drop for PrometheusProc {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Prometheus config with one job scraping `targets` every second.
pub fn scrape_config(job: &str, targets: &[SocketAddr]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: {job}\n    metrics_path: /metrics\n    \
         static_configs:\n      - targets: [{}]\n",
        list.join(", ")
    )
}

/// Polls `GET /-/ready` until it answers 200; false if the process exits
/// or `timeout` passes first.
fn wait_ready(proc: &mut Proc, addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(proc.child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if http_status(addr, "/-/ready") == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The status code of a plain `GET path` (blocking, 2 s timeouts), or
/// `None` when nothing answers.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let timeout = Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.x NNN"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A loopback address with a port that was free a moment ago.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port")
}

/// A few bits that differ between calls in one process.
fn rand_bits() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) << 24
}
