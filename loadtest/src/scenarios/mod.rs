//! The scenarios. Each one plans the workers, drives the phases through the
//! [`Coordinator`], and returns a [`RunReport`].

pub mod avalanche;
pub mod churn;
pub mod connect;
pub mod fanout;
pub mod publisher;
pub mod rooms;
pub mod soak;
pub mod soak_verdict;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::cli::{CommonArgs, LoadArgs, PublishVia};
use crate::client::{Transport, socketio};
use crate::coordinator::{Aggregate, Coordinator, CoordinatorError, split};
use crate::metrics_scrape::{GatewaySample, scrape_all};
use crate::plan::{Control, RoomPlan, WorkerPlan};
use crate::report::loadgen::{self, LoadGenSample};
use crate::report::{EXIT_CHECK_FAILED, GatewayReport, RunReport};
use crate::stats::histogram::Percentiles;
use publisher::{Publisher, PublisherConfig, PublisherStats};
use rooms::RoomSampler;

/// How long workers get to send their final reports.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The flags do not make a runnable scenario.
    #[error("{0}")]
    Config(String),
    /// The workers failed.
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
}

/// The source addresses 127.0.0.1 to 127.0.0.n.
pub fn source_addrs(n: u8) -> Vec<IpAddr> {
    (1..=n.max(1))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect()
}

fn check_common(c: &CommonArgs) -> Result<(), ScenarioError> {
    if c.transport == Transport::SocketIo {
        socketio::check_template(&c.sio_room_template).map_err(ScenarioError::Config)?;
    }
    crate::token::connection_token(c).map_err(ScenarioError::Config)?;
    if c.transport == Transport::Sse {
        if let Some(u) = c.urls.iter().find(|u| !u.starts_with("ws://")) {
            return Err(ScenarioError::Config(format!(
                "--transport sse needs ws://HOST:PORT/... URLs (the stream is http://HOST:PORT/sse): {u}"
            )));
        }
    }
    if !c.transport.is_quic() && !c.quic_cert_hashes.is_empty() {
        return Err(ScenarioError::Config(
            "--quic-cert-hash is for --transport webtransport or quic".into(),
        ));
    }
    if c.urls.is_empty() || c.workers == 0 {
        return Err(ScenarioError::Config(
            "need at least one --url and one worker".into(),
        ));
    }
    Ok(())
}

/// Socket.IO events name no room and `subscribe` leaves the other rooms, so
/// a Socket.IO client is in one room, and every room must fit the template.
fn check_sio_rooms(common: &CommonArgs, load: &LoadArgs) -> Result<(), ScenarioError> {
    if load.rooms_per_client != 1 {
        return Err(ScenarioError::Config(format!(
            "--transport socketio needs --rooms-per-client 1 (got {}): Socket.IO events name no room",
            load.rooms_per_client
        )));
    }
    for i in [0, load.rooms.saturating_sub(1)] {
        let room = rooms::room_name(&load.room_prefix, i as u32);
        socketio::room_arg(&common.sio_room_template, &room).map_err(|e| {
            ScenarioError::Config(format!(
                "{e}: pick --room-prefix to fit --sio-room-template (e.g. --room-prefix dashboard:bench)"
            ))
        })?;
    }
    Ok(())
}

/// Splits `clients` over the workers.
pub fn plans(
    c: &CommonArgs,
    clients: u64,
    connect_rate: f64,
    rooms: RoomPlan,
    churn_rate: f64,
    retry: bool,
) -> Vec<WorkerPlan> {
    let shares = split(clients, c.workers);
    let n = shares.len() as f64;
    let mut first = 0;
    shares
        .into_iter()
        .enumerate()
        .map(|(worker, share)| {
            let p = WorkerPlan {
                worker,
                first_client: first,
                clients: share,
                urls: c.urls.clone(),
                source_addrs: source_addrs(c.source_addrs),
                transport: c.transport,
                format: c.format,
                connect_rate: connect_rate / n,
                rooms: rooms.clone(),
                churn_rate: churn_rate / n,
                retry,
                connect_timeout_ms: c.connect_timeout.as_millis() as u64,
                sio_room_template: c.sio_room_template.clone(),
                // Checked by `check_common`, which every scenario runs first.
                token: crate::token::connection_token(c).ok().flatten(),
                quic_cert_hashes: c.quic_cert_hashes.clone(),
                quic_ports: Vec::new(),
            };
            first += share;
            p
        })
        .collect()
}

/// Per-gateway memory deltas. `fallback_conns` is used when a gateway does
/// not export its connection gauge.
pub fn gateway_reports(
    admins: &[String],
    before: &[GatewaySample],
    after: &[GatewaySample],
    fallback_conns: f64,
) -> (Vec<GatewayReport>, Option<f64>) {
    let mut reports = Vec::new();
    let (mut rss_sum, mut conn_sum) = (0.0, 0.0);
    for (i, admin) in admins.iter().enumerate() {
        let b = before.get(i).copied().unwrap_or_default();
        let a = after.get(i).copied().unwrap_or_default();
        let conns = match (a.connections, b.connections) {
            (Some(x), Some(y)) => x - y,
            _ => fallback_conns,
        };
        let per = match (a.rss_bytes, b.rss_bytes) {
            (Some(x), Some(y)) if conns > 0.0 => {
                rss_sum += x - y;
                conn_sum += conns;
                Some((x - y) / conns)
            }
            _ => None,
        };
        reports.push(GatewayReport {
            admin: admin.clone(),
            before: b,
            after: a,
            rss_per_connection_bytes: per,
            ..GatewayReport::default()
        });
    }
    (reports, (conn_sum > 0.0).then(|| rss_sum / conn_sum))
}

/// CPU seconds summed over the gateways between two scrapes; `None` when a
/// gateway did not export its CPU counter in either.
pub fn cpu_delta(before: &[GatewaySample], after: &[GatewaySample]) -> Option<f64> {
    if before.is_empty() || before.len() != after.len() {
        return None;
    }
    before
        .iter()
        .zip(after)
        .map(|(b, a)| Some((a.cpu_seconds? - b.cpu_seconds?).max(0.0)))
        .sum()
}

/// Fills the parts of a report that come from the workers.
pub fn fill_from(report: &mut RunReport, agg: &Aggregate) {
    report.counters = agg.totals();
    report.latency = Percentiles::of(&agg.latency);
    report.connect_latency = Percentiles::of(&agg.connect_latency);
    report.recovery = Percentiles::of(&agg.recovery);
    report.series = agg.series();
}

/// Judges the load generator's own figures and marks the report saturated
/// when it was the limit; `latency_p99_ms` is the figure it could inflate.
pub fn fill_loadgen(report: &mut RunReport, sample: &LoadGenSample, latency_p99_ms: Option<f64>) {
    let lg = loadgen::build(sample, latency_p99_ms);
    report.saturated = lg.saturated;
    report.loadgen = Some(lg);
}

/// A running load: workers with clients in rooms, and a publisher.
pub struct Load {
    /// The workers.
    pub coord: Coordinator,
    publisher: Option<Publisher>,
    load: LoadArgs,
    common: CommonArgs,
    http: reqwest::Client,
    /// Gateway scrapes before the clients connected.
    pub before: Vec<GatewaySample>,
    /// Gateway scrapes right before the first publish (for CPU time).
    pub publish_before: Vec<GatewaySample>,
    /// When publishing started, in run seconds.
    pub publish_started_s: f64,
}

/// Result of [`Load::finish`].
pub struct Finished {
    /// Merged worker state.
    pub agg: Aggregate,
    /// Publisher totals.
    pub publisher: PublisherStats,
    /// Seconds the publisher ran.
    pub publish_s: f64,
    /// Gateway scrapes before the run.
    pub before: Vec<GatewaySample>,
    /// Gateway scrapes right before the first publish.
    pub publish_before: Vec<GatewaySample>,
    /// Gateway scrapes at the end, clients still connected.
    pub after: Vec<GatewaySample>,
    /// The load generator's CPU and loop lag from the first publish to the
    /// end of the drain.
    pub loadgen: LoadGenSample,
}

impl Load {
    /// Connects and subscribes every client, waits `--settle`, and starts the publisher.
    ///
    /// # Errors
    /// [`ScenarioError`] for bad flags, dead workers, or clients that never got ready.
    pub async fn start(
        common: &CommonArgs,
        load: &LoadArgs,
        churn_rate: f64,
    ) -> Result<Self, ScenarioError> {
        check_common(common)?;
        if load.publish_via == PublishVia::Redis {
            return Err(ScenarioError::Config(
                "--publish-via redis is not available: docs/adapter-protocol.md has not landed; use --publish-via http".into(),
            ));
        }
        RoomSampler::new(load.rooms, load.zipf)
            .and_then(|s| s.rooms_for(0, load.rooms_per_client, load.seed).map(|_| ()))
            .map_err(|e| ScenarioError::Config(e.to_string()))?;
        if common.transport == Transport::SocketIo {
            check_sio_rooms(common, load)?;
        }
        let http = reqwest::Client::new();
        let before = scrape_all(&http, &common.admins).await;
        let room_plan = RoomPlan {
            count: load.rooms,
            zipf: load.zipf,
            per_client: load.rooms_per_client,
            prefix: load.room_prefix.clone(),
            seed: load.seed,
        };
        let plans = plans(
            common,
            load.clients,
            load.connect_rate,
            room_plan,
            churn_rate,
            true,
        );
        let mut coord = Coordinator::spawn(plans, !common.no_progress).await?;
        if !coord.wait_ready(common.ready_timeout).await? {
            let ready = coord.agg.totals().ready_clients;
            return Err(ScenarioError::Config(format!(
                "only {ready} of {} clients connected and subscribed within {:?}",
                load.clients, common.ready_timeout
            )));
        }
        coord.run_for(load.settle).await?;
        let publish_before = scrape_all(&http, &common.admins).await;
        let publisher = Publisher::start(PublisherConfig {
            admins: common.admins.clone(),
            api_key: common.api_key.clone(),
            rooms: load.rooms,
            prefix: load.room_prefix.clone(),
            event: load.event.clone(),
            rate: load.rate,
            payload_bytes: load.payload_bytes,
            tick: Duration::from_millis(load.tick_ms.max(1)),
        });
        coord.watch_publisher(publisher.sent.clone());
        coord.start_measuring();
        let publish_started_s = coord.elapsed_s();
        Ok(Self {
            coord,
            publisher: Some(publisher),
            load: load.clone(),
            common: common.clone(),
            http,
            before,
            publish_before,
            publish_started_s,
        })
    }

    /// Sends `DropAll` to the workers.
    ///
    /// # Errors
    /// When a worker's stdin is closed.
    pub async fn drop_all(&mut self) -> Result<(), ScenarioError> {
        Ok(self.coord.broadcast(&Control::DropAll).await?)
    }

    /// Scrapes every gateway now.
    pub async fn scrape(&self) -> Vec<GatewaySample> {
        scrape_all(&self.http, &self.common.admins).await
    }

    /// Stops the publisher, waits `--drain`, scrapes, and collects the workers' checks.
    ///
    /// # Errors
    /// [`ScenarioError`] when workers die or hang.
    pub async fn finish(mut self) -> Result<Finished, ScenarioError> {
        let publisher = match self.publisher.take() {
            Some(p) => p.stop().await,
            None => PublisherStats::default(),
        };
        let publish_s = self.coord.elapsed_s() - self.publish_started_s;
        self.coord.run_for(self.load.drain).await?;
        let after = self.scrape().await;
        let loadgen = self.coord.loadgen_sample();
        let agg = self
            .coord
            .finish(publisher.per_room.clone(), FINISH_TIMEOUT)
            .await?;
        Ok(Finished {
            agg,
            publisher,
            publish_s,
            before: self.before,
            publish_before: self.publish_before,
            after,
            loadgen,
        })
    }
}

/// Builds the report every load scenario shares, with its failures.
pub fn load_report(
    name: &str,
    params: Vec<(String, String)>,
    common: &CommonArgs,
    f: &Finished,
) -> RunReport {
    let mut r = RunReport {
        scenario: name.to_owned(),
        params,
        ..RunReport::default()
    };
    fill_from(&mut r, &f.agg);
    let p99 = r.latency.map(|l| l.p99_ms);
    fill_loadgen(&mut r, &f.loadgen, p99);
    r.duration_s = f.agg.last_t_s();
    r.deliveries_per_s = (f.publish_s > 0.0).then(|| f.agg.check.delivered as f64 / f.publish_s);
    r.check = Some(f.agg.check.clone());
    r.publisher = Some(f.publisher.clone());
    let (g, overall) = gateway_reports(
        &common.admins,
        &f.before,
        &f.after,
        r.counters.connected as f64 / common.admins.len().max(1) as f64,
    );
    r.gateways = g;
    r.rss_per_connection_bytes = overall;
    r.server_cpu_seconds = cpu_delta(&f.publish_before, &f.after);
    r.deliveries_per_cpu_second = r
        .server_cpu_seconds
        .filter(|c| *c > 0.0)
        .map(|c| f.agg.check.delivered as f64 / c);
    let k = &f.agg.check;
    if !k.is_clean() {
        r.failures.push(format!(
            "delivery check: expected {} delivered {} missing {} duplicates {} out-of-order {} seq-mismatch {} resets {}",
            k.expected, k.delivered, k.missing, k.duplicates, k.out_of_order, k.seq_mismatches, k.resets
        ));
    }
    if f.publisher.errors > 0 {
        r.failures.push(format!(
            "{} publishes failed (first: {})",
            f.publisher.errors,
            f.publisher
                .first_error
                .as_deref()
                .unwrap_or("refused by the gateway")
        ));
    }
    if f.publisher.sent == 0 && common_rate_positive(&r) {
        r.failures.push("nothing was published".into());
    }
    r.exit_code = if r.failures.is_empty() {
        0
    } else {
        EXIT_CHECK_FAILED
    };
    r
}

fn common_rate_positive(r: &RunReport) -> bool {
    r.params
        .iter()
        .any(|(k, v)| k == "rate" && v.parse::<f64>().is_ok_and(|x| x > 0.0))
}

/// `name = value` pairs for the report from the common and load flags.
pub fn params(common: &CommonArgs, load: Option<&LoadArgs>) -> Vec<(String, String)> {
    let mut p = vec![
        ("url".to_owned(), common.urls.join(" ")),
        ("admin".to_owned(), common.admins.join(" ")),
        ("workers".to_owned(), common.workers.to_string()),
        ("source_addrs".to_owned(), common.source_addrs.to_string()),
        ("duration".to_owned(), format!("{:?}", common.duration)),
        ("transport".to_owned(), format!("{:?}", common.transport)),
        ("format".to_owned(), format!("{:?}", common.format)),
    ];
    if let Some(l) = load {
        p.extend([
            ("clients".to_owned(), l.clients.to_string()),
            ("rooms".to_owned(), l.rooms.to_string()),
            (
                "zipf".to_owned(),
                l.zipf.map_or("uniform".to_owned(), |s| s.to_string()),
            ),
            (
                "rooms_per_client".to_owned(),
                l.rooms_per_client.to_string(),
            ),
            ("rate".to_owned(), l.rate.to_string()),
            ("payload_bytes".to_owned(), l.payload_bytes.to_string()),
        ]);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_per_connection_uses_the_gateway_gauge() {
        let admins = vec!["a".to_owned(), "b".to_owned()];
        let s = |rss: f64, c: f64| GatewaySample {
            rss_bytes: Some(rss),
            connections: Some(c),
            ..GatewaySample::default()
        };
        let (g, overall) = gateway_reports(
            &admins,
            &[s(100.0, 0.0), s(100.0, 0.0)],
            &[s(1100.0, 10.0), s(2100.0, 10.0)],
            0.0,
        );
        assert_eq!(g[0].rss_per_connection_bytes, Some(100.0));
        assert_eq!(g[1].rss_per_connection_bytes, Some(200.0));
        assert_eq!(overall, Some(150.0));
        let (g, overall) = gateway_reports(&admins, &[], &[], 5.0);
        assert!(g[0].rss_per_connection_bytes.is_none() && overall.is_none());
    }

    #[test]
    fn cpu_time_sums_over_gateways_and_needs_every_counter() {
        let s = |cpu: Option<f64>| GatewaySample {
            cpu_seconds: cpu,
            ..GatewaySample::default()
        };
        let d = cpu_delta(&[s(Some(1.0)), s(Some(2.0))], &[s(Some(3.5)), s(Some(2.5))]);
        assert_eq!(d, Some(3.0));
        assert_eq!(
            cpu_delta(&[s(Some(1.0)), s(None)], &[s(Some(3.5)), s(Some(2.5))]),
            None
        );
        assert_eq!(cpu_delta(&[], &[]), None);
    }

    #[test]
    fn socketio_runs_need_one_room_per_client_and_fitting_room_names() {
        use clap::Parser as _;
        let parse = |extra: &[&str]| {
            let mut args = vec!["x", "fanout", "--transport", "socketio"];
            args.extend_from_slice(extra);
            let cli = crate::cli::Cli::try_parse_from(args).unwrap();
            let crate::cli::Command::Fanout(f) = cli.command else {
                panic!()
            };
            check_sio_rooms(&f.common, &f.load)
        };
        assert!(parse(&["--room-prefix", "dashboard:b"]).is_ok());
        assert!(
            parse(&[]).is_err(),
            "loadtest:r0 does not fit dashboard:{{arg}}"
        );
        assert!(
            parse(&[
                "--room-prefix",
                "dashboard:b",
                "--rooms",
                "5",
                "--rooms-per-client",
                "2"
            ])
            .is_err()
        );
        assert!(parse(&["--sio-room-template", "{arg}"]).is_ok());
    }

    #[test]
    fn plans_cover_every_client_once() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from(["x", "connect", "--workers", "6"]).unwrap();
        let crate::cli::Command::Connect(c) = cli.command else {
            panic!()
        };
        let p = plans(&c.common, 100_000, 6000.0, RoomPlan::default(), 0.0, false);
        assert_eq!(p.len(), 6);
        assert_eq!(p.iter().map(|w| w.clients).sum::<u64>(), 100_000);
        for w in p.windows(2) {
            assert_eq!(w[0].first_client + w[0].clients, w[1].first_client);
        }
        assert!((p[0].connect_rate - 1000.0).abs() < 1e-9);
        assert_eq!(p[0].source_addrs.len(), 16);
    }
}
