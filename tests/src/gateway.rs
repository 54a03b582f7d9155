//! A `herald-gateway` process on ephemeral ports.

use std::net::SocketAddr;
use std::time::Duration;

use crate::process::{Proc, bin};

/// A running gateway.
pub struct GatewayProc {
    /// The process.
    pub proc: Proc,
    /// Client listener.
    pub client: SocketAddr,
    /// Admin listener.
    pub admin: SocketAddr,
    /// Whether the admin listener speaks TLS (the banner says `https`).
    pub admin_tls: bool,
    /// The QUIC listener (UDP), when the banner names one
    /// (`webtransport https://ADDR/wt`).
    pub quic: Option<SocketAddr>,
}

impl GatewayProc {
    /// Starts a gateway with `args` plus ephemeral listeners, and waits
    /// until it prints its addresses.
    pub fn start(args: &[&str]) -> Self {
        Self::start_bin(&bin("herald-gateway"), args)
    }

    /// Like [`GatewayProc::start`], with the gateway binary at `program`
    /// (e.g. the test-only leaky build, [`crate::leaky::leaky_gateway_bin`]).
    pub fn start_bin(program: &std::path::Path, args: &[&str]) -> Self {
        let mut all: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--admin-listen".into(),
            "127.0.0.1:0".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let proc = Proc::spawn(program, &all);
        let line = proc.wait_line("herald-gateway: dashboard", Duration::from_secs(20));
        // `dashboard http://ADDR/` or `dashboard https://ADDR/`.
        let addr_after = |prefix: &str| -> (SocketAddr, bool) {
            let rest = &line[line.find(prefix).expect("address in banner") + prefix.len()..];
            let (tls, rest) = match rest.strip_prefix("https://") {
                Some(r) => (true, r),
                None => (false, rest.strip_prefix("http://").expect("http(s)://")),
            };
            let end = rest.find('/').expect("address end");
            (rest[..end].parse().expect("socket address"), tls)
        };
        let (client, _) = addr_after("dashboard ");
        let (admin, admin_tls) = addr_after("admin ");
        let quic = line
            .contains("webtransport ")
            .then(|| addr_after("webtransport ").0);
        Self {
            proc,
            client,
            admin,
            admin_tls,
            quic,
        }
    }

    /// `ws://.../ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.client)
    }

    /// The QUIC listener's address; panics when it is off.
    pub fn quic_addr(&self) -> SocketAddr {
        self.quic
            .expect("the gateway's banner names a QUIC listener")
    }

    /// The self-signed QUIC certificate's SHA-256, from
    /// `GET /wt/certificate-hash` on the client listener.
    pub async fn cert_hash(&self) -> Vec<u8> {
        use base64::Engine;
        let body: serde_json::Value =
            reqwest::get(format!("http://{}/wt/certificate-hash", self.client))
                .await
                .expect("GET /wt/certificate-hash")
                .json()
                .await
                .expect("hash JSON");
        assert_eq!(body["algorithm"], "sha-256", "{body}");
        base64::engine::general_purpose::STANDARD
            .decode(body["value"].as_str().expect("value"))
            .expect("base64 hash")
    }

    /// `http://<admin>` (`https://` on a TLS admin listener).
    pub fn admin_url(&self) -> String {
        let scheme = if self.admin_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.admin)
    }

    /// Fetches `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin_url()))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of an unlabelled metric, or of the series whose labels contain `labels`.
    pub async fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        metric_value(&self.metrics().await, name, labels)
    }

    /// Publishes through the HTTP API; returns the JSON reply.
    pub async fn publish(
        &self,
        room: &str,
        event: &str,
        data: serde_json::Value,
    ) -> serde_json::Value {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/publish", self.admin_url()))
            .json(&serde_json::json!({ "room": room, "event": event, "data": data }))
            .send()
            .await
            .expect("POST /api/publish");
        assert!(
            resp.status().is_success(),
            "publish failed: {}",
            resp.status()
        );
        resp.json().await.expect("publish reply")
    }
}

/// Finds a sample in Prometheus text: `name` with labels containing `labels`
/// (pass "" for an unlabelled metric).
pub fn metric_value(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (metric, rest) = match series.find('{') {
            Some(i) => (&series[..i], &series[i..]),
            None => (series, ""),
        };
        (metric == name && rest.contains(labels))
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// The sum of every sample of `name` in Prometheus text, over all its
/// label sets; `None` when there is none.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.parse().ok()).flatten()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
