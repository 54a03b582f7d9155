//! Observability against real processes: every metric the Grafana package
//! uses is really exported, promtool accepts the package, a real Prometheus
//! scrapes a gateway, and the counters and histograms move exactly as the
//! README's Metrics table says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use herald_protocol::RoomName;
use herald_protocol::native::{ClientFrame, CloseCode, ServerFrame};
use herald_tests::gateway::{GatewayProc, metric_value};
use herald_tests::process::{Proc, bin_dir};
use herald_tests::prometheus::{PrometheusProc, promtool};
use herald_tests::promql::{
    HERALD_METRICS, PROMETHEUS_GENERATED_METRICS, base_metric_name, is_contract_metric,
    metric_names_in_grafana_dir,
};
use herald_tests::ws::Client;
use serde_json::json;

/// How long a counter may take to show work the client already saw (the
/// gateway counts a write just after it completes).
const SETTLE: Duration = Duration::from_secs(5);

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana")
}

fn subscribe(name: &str, id: u64) -> ClientFrame {
    ClientFrame::Subscribe {
        room: RoomName::new(name).unwrap(),
        since: None,
        leave_others: false,
        token: None,
        id: Some(id),
    }
}

/// Connects and subscribes to `room`, reading the `subscribed` reply.
async fn subscriber(gw: &GatewayProc, room: &str) -> Client {
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    c.send(&subscribe(room, 1)).await;
    match c.next_frame().await {
        ServerFrame::Subscribed { room: r, .. } => assert_eq!(r, room),
        other => panic!("expected subscribed, got {other:?}"),
    }
    c
}

/// The metric names of all samples in a Prometheus text exposition.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Polls the gateway until `name{labels}` equals `want` or [`SETTLE`]
/// passes; returns the last value (compare it to `want`).
async fn settled(gw: &GatewayProc, name: &str, labels: &str, want: f64) -> Option<f64> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = gw.metric(name, labels).await;
        if got == Some(want) || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Produces every gateway metric family a standalone gateway can produce:
/// a connection (gauge, accepted), a subscription and room, an API publish
/// delivered live (fan-out, lags, deliveries), a client error, and a closed
/// connection (disconnects). Returns the subscribed client, to be kept
/// open while the gauges are scraped.
async fn exercise(gw: &GatewayProc) -> Client {
    let mut c = subscriber(gw, "obs:families").await;
    gw.publish("obs:families", "e", json!({ "n": 1 })).await;
    assert_eq!(c.messages(1).await[0].2, json!({ "n": 1 }));
    c.send_text("{not json").await;
    assert!(matches!(c.next_frame().await, ServerFrame::Error { .. }));
    let (mut leaver, _) = Client::connect(&gw.ws_url()).await;
    leaver.ws.close(None).await.unwrap();
    let _ = leaver.until_closed().await;
    assert_eq!(
        settled(gw, "herald_gateway_connections", "transport=\"ws\"", 1.0).await,
        Some(1.0),
        "the closed connection has left"
    );
    c
}

/// Starts `herald-router` with unreachable stores and returns it with the
/// text of its `/metrics`.
async fn router_scrape(router_bin: &Path) -> (Proc, String) {
    let dir = std::env::temp_dir().join(format!("herald-obs-router-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[scope]]\nname = \"shop\"\ndb = \"shop\"\n\n[[rule]]\nname = \"orders\"\n\
         scope = \"shop\"\nns = \"shop.orders\"\nops = [\"insert\"]\nrooms = [\"orders:all\"]\nevent = \"order:change\"\n",
    )
    .unwrap();
    let args: Vec<String> = [
        "--admin-listen",
        "127.0.0.1:0",
        "--redis",
        "redis://127.0.0.1:9",
        "--mongo",
        "mongodb://127.0.0.1:9/?directConnection=true",
        "--rules",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([rules.display().to_string()])
    .collect();
    let proc = Proc::spawn(router_bin, &args);
    let line = proc.wait_line("herald-router: admin http://", Duration::from_secs(20));
    let rest = &line[line.find("http://").unwrap() + "http://".len()..];
    let admin = &rest[..rest.find('/').unwrap()];
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("GET router /metrics")
        .text()
        .await
        .unwrap();
    (proc, text)
}

#[tokio::test]
async fn every_metric_the_dashboards_and_alerts_use_is_exported() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let _client = exercise(&gw).await;
    let text = gw.metrics().await;
    let exported = sample_names(&text);

    let used = metric_names_in_grafana_dir(&grafana_dir()).expect("grafana/ parses");
    let (router, others): (BTreeMap<_, _>, BTreeMap<_, _>) = used
        .into_iter()
        .filter(|(name, _)| !PROMETHEUS_GENERATED_METRICS.contains(&name.as_str()))
        .partition(|(name, _)| name.starts_with("herald_router_"));
    assert!(
        others.contains_key("herald_gateway_fanout_seconds_bucket")
            && others.contains_key("process_resident_memory_bytes"),
        "the walk reached the gateway and process panels: {others:?}"
    );
    let missing: BTreeMap<_, _> = others
        .iter()
        .filter(|(name, _)| !exported.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "used by grafana/ but not exported by the gateway: {missing:#?}\n--- /metrics:\n{text}"
    );

    let router_bin = bin_dir().join("herald-router");
    if router_bin.exists() {
        let (_router, router_text) = router_scrape(&router_bin).await;
        let router_exported = sample_names(&router_text);
        let missing: BTreeMap<_, _> = router
            .iter()
            .filter(|(name, _)| !router_exported.contains(*name))
            .collect();
        assert!(
            missing.is_empty(),
            "used by grafana/ but not exported by a fresh router: {missing:#?}\n\
             --- router /metrics:\n{router_text}"
        );
    } else {
        // No router to scrape: the names must be exactly the documented set.
        let undocumented: Vec<&String> = router.keys().filter(|n| !is_contract_metric(n)).collect();
        assert!(
            undocumented.is_empty(),
            "router metrics outside the contract: {undocumented:?}"
        );
        let used_bases: BTreeSet<&str> = router.keys().map(|n| base_metric_name(n)).collect();
        let documented: BTreeSet<&str> = HERALD_METRICS
            .iter()
            .copied()
            .filter(|n| n.starts_with("herald_router_"))
            .collect();
        assert_eq!(
            used_bases, documented,
            "grafana/ must use exactly the documented router metrics"
        );
    }
}

/// A gateway nobody has connected to yet already exports every labelled
/// series the dashboards use, at 0, so Grafana shows 0 and not "no data".
#[tokio::test]
async fn a_fresh_gateway_exports_every_transport_series_at_zero() {
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let text = gw.metrics().await;
    for transport in ["ws", "socketio_ws", "socketio_polling", "sse"] {
        let labels = format!("transport=\"{transport}\"");
        for name in [
            "herald_gateway_connections",
            "herald_gateway_connections_accepted_total",
        ] {
            assert_eq!(
                metric_value(&text, name, &labels),
                Some(0.0),
                "{name}{{{labels}}} on a fresh gateway\n--- /metrics:\n{text}"
            );
        }
    }
    for (name, labels) in [
        ("herald_gateway_subscribe_rate_refusals_total", ""),
        ("herald_gateway_pending_http_refusals_total", ""),
        ("herald_gateway_pending_http_connections", ""),
        (
            "herald_gateway_presence_events_total",
            "outcome=\"delivered\"",
        ),
        (
            "herald_gateway_presence_events_total",
            "outcome=\"dropped\"",
        ),
    ] {
        assert_eq!(
            metric_value(&text, name, labels),
            Some(0.0),
            "{name}{{{labels}}} on a fresh gateway\n--- /metrics:\n{text}"
        );
    }
    for reason in ["client_closed", "slow_consumer", "subscribe_flood"] {
        let labels = format!("reason=\"{reason}\"");
        assert_eq!(
            metric_value(&text, "herald_gateway_disconnects_total", &labels),
            Some(0.0),
            "disconnects{{{labels}}} on a fresh gateway\n--- /metrics:\n{text}"
        );
    }
}

#[test]
fn promtool_accepts_the_config_and_rules_and_their_tests_pass() {
    let dir = grafana_dir();
    for args in [
        &["check", "config", "prometheus.yml"][..],
        &["check", "rules", "alerts/herald-rules.yml"],
        &["test", "rules", "alerts/herald-rules.test.yml"],
    ] {
        let out = promtool(&dir, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "promtool {} failed ({}):\n{stdout}\n{stderr}",
            args.join(" "),
            out.status
        );
        if args[..2] == ["check", "rules"] {
            // "SUCCESS: N rules found": the file really had rules in it.
            let found = stdout
                .split("SUCCESS: ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.parse::<u32>().ok());
            assert!(found.is_some_and(|n| n > 0), "{stdout}");
        }
    }
}

#[tokio::test]
async fn a_real_prometheus_sees_connections_come_and_go() {
    const K: usize = 7;
    const CLOSED: usize = 3;
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0"]);
    let prom = PrometheusProc::start("herald-gateway", &[gw.admin]);
    let query = r#"sum(herald_gateway_connections{job="herald-gateway"})"#;
    let wait = Duration::from_secs(30);

    let mut clients = Vec::new();
    for _ in 0..K {
        clients.push(Client::connect(&gw.ws_url()).await.0);
    }
    let got = prom.wait_for_value(query, K as f64, wait).await;
    assert_eq!(got, Some(K as f64), "log:\n{}", prom.log_text());
    assert_eq!(
        prom.query_scalar(r#"up{job="herald-gateway"}"#).await,
        Some(1.0)
    );

    for mut c in clients.drain(..CLOSED) {
        c.ws.close(None).await.unwrap();
        let _ = c.until_closed().await;
    }
    let left = (K - CLOSED) as f64;
    let got = prom.wait_for_value(query, left, wait).await;
    assert_eq!(got, Some(left), "log:\n{}", prom.log_text());
    assert_eq!(
        prom.query_scalar(
            r#"sum(herald_gateway_connections_accepted_total{job="herald-gateway"})"#
        )
        .await,
        Some(K as f64)
    );
}

/// The gateway series [`counters_and_histograms_count_each_delivery`] watches.
const DELIVERY_SERIES: [(&str, &str); 6] = [
    (
        "herald_gateway_messages_delivered_total",
        "transport=\"ws\"",
    ),
    ("herald_gateway_fanout_seconds_count", ""),
    ("herald_gateway_publishes_total", "source=\"api\""),
    ("herald_gateway_publishes_total", "source=\"client\""),
    ("herald_gateway_bus_lag_seconds_count", ""),
    ("herald_end_to_end_lag_seconds_count", ""),
];

async fn delivery_series(gw: &GatewayProc) -> [f64; 6] {
    let text = gw.metrics().await;
    DELIVERY_SERIES.map(|(name, labels)| {
        metric_value(&text, name, labels).unwrap_or_else(|| panic!("{name}{{{labels}}} missing"))
    })
}

/// One snapshot message plus `N` live ones to one subscriber. Documented
/// accounting: `messages_delivered_total` counts every message frame written
/// to a socket, the snapshot included (N + 1); `fanout_seconds` and
/// `end_to_end_lag_seconds` observe live messages only, once each at their
/// last local write (N); `publishes_total{source="api"}` counts every API
/// publication (N + 1), and so does `bus_lag_seconds` (each arrives at the
/// node once, subscribed or not).
#[tokio::test]
async fn counters_and_histograms_count_each_delivery() {
    const N: u64 = 25;
    const ROOM: &str = "obs:counted";
    let gw = GatewayProc::start(&["--standalone", "--demo-rate", "0", "--snapshot-depth", "1"]);
    let before = delivery_series(&gw).await;

    gw.publish(ROOM, "e", json!({ "n": 0 })).await;
    let mut c = subscriber(&gw, ROOM).await;
    let snapshot = c.messages(1).await;
    assert_eq!(snapshot[0].2, json!({ "n": 0 }), "the snapshot message");
    for n in 1..=N {
        gw.publish(ROOM, "e", json!({ "n": n })).await;
    }
    let live = c.messages(N as usize).await;
    assert_eq!(
        live.iter()
            .map(|m| m.2["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (1..=N).collect::<Vec<_>>()
    );

    let n = N as f64;
    let want = [n + 1.0, n, n + 1.0, 0.0, n + 1.0, n];
    for (i, (name, labels)) in DELIVERY_SERIES.iter().enumerate() {
        let got = settled(&gw, name, labels, before[i] + want[i]).await;
        assert_eq!(
            got.map(|v| v - before[i]),
            Some(want[i]),
            "{name}{{{labels}}} delta"
        );
    }
    // Nothing else is in flight, so nothing more is counted later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = delivery_series(&gw).await;
    for (i, (name, labels)) in DELIVERY_SERIES.iter().enumerate() {
        assert_eq!(after[i] - before[i], want[i], "{name}{{{labels}}} delta");
    }
}

/// Publishes one batch of `count` messages of `blob` into `room`.
async fn publish_batch(gw: &GatewayProc, room: &str, first: u64, count: u64, blob: &str) {
    let messages: Vec<_> = (first..first + count)
        .map(|i| json!({ "room": room, "event": "e", "data": { "i": i, "blob": blob } }))
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/publish/batch", gw.admin_url()))
        .json(&json!({ "messages": messages }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn slow_consumer_is_counted_once_and_gauges_return_to_zero() {
    const ROOM: &str = "obs:firehose";
    const BATCH: u64 = 8;
    // 8 × 16 KB = 128 KB per batch: the reading client drains each batch
    // before the next, so only the stalled client's outbox (256 KiB) fills.
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--max-frame-bytes",
        "65536",
        "--outbox-max-bytes",
        "262144",
        "--history-size",
        "10",
    ]);
    let mut reader = subscriber(&gw, ROOM).await;
    let mut stalled = subscriber(&gw, ROOM).await;
    let slow = "herald_gateway_slow_consumer_disconnects_total";
    assert_eq!(gw.metric(slow, "").await, Some(0.0));
    assert_eq!(
        gw.metric("herald_gateway_connections", "transport=\"ws\"")
            .await,
        Some(2.0)
    );

    // Up to 3,000 × 16 KB = 48 MB: far more than kernel buffers plus the
    // outbox hold for a client that never reads.
    let blob = "z".repeat(16 * 1024);
    let mut sent = 0;
    while sent < 3000 && gw.metric(slow, "").await == Some(0.0) {
        publish_batch(&gw, ROOM, sent, BATCH, &blob).await;
        sent += BATCH;
        let got = reader.messages(BATCH as usize).await;
        assert_eq!(got.last().unwrap().2["i"], json!(sent - 1));
    }
    assert_eq!(
        gw.metric(slow, "").await,
        Some(1.0),
        "after {sent} messages"
    );
    assert_eq!(
        settled(
            &gw,
            "herald_gateway_disconnects_total",
            "reason=\"slow_consumer\"",
            1.0
        )
        .await,
        Some(1.0)
    );
    // The reader keeps being served and nobody else is counted.
    publish_batch(&gw, ROOM, sent, BATCH, &blob).await;
    reader.messages(BATCH as usize).await;
    assert_eq!(gw.metric(slow, "").await, Some(1.0));

    let (frames, _) = stalled.until_closed().await;
    assert!(
        frames.iter().any(|f| matches!(
            f,
            ServerFrame::Disconnect {
                code: CloseCode::SlowConsumer,
                ..
            }
        )),
        "the stalled client is told why"
    );
    reader.ws.close(None).await.unwrap();
    let _ = reader.until_closed().await;
    for (name, labels) in [
        ("herald_gateway_connections", "transport=\"ws\""),
        ("herald_gateway_subscriptions", ""),
        ("herald_gateway_rooms", ""),
    ] {
        assert_eq!(
            settled(&gw, name, labels, 0.0).await,
            Some(0.0),
            "{name}{{{labels}}}"
        );
    }
    assert_eq!(
        gw.metric(
            "herald_gateway_connections_accepted_total",
            "transport=\"ws\""
        )
        .await,
        Some(2.0)
    );

    let text = gw.metrics().await;
    let value = |name: &str| metric_value(&text, name, "").unwrap_or_else(|| panic!("{name}"));
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(
        value("process_cpu_seconds_total") > 0.0,
        "moving megabytes costs CPU"
    );
    assert!(value("process_open_fds") >= 3.0);
    let build = text
        .lines()
        .find(|l| l.starts_with("herald_build_info{"))
        .unwrap_or_else(|| panic!("no herald_build_info in:\n{text}"));
    assert!(build.contains("binary=\"herald-gateway\""), "{build}");
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(build.contains(&version) && build.ends_with(" 1"), "{build}");
}
