//! The coordinator: starts worker processes (this binary's hidden `worker`
//! subcommand), sends them their plans and commands, and merges their
//! once-a-second reports into totals and per-second series.

use std::io::IsTerminal as _;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::plan::{Control, WorkerPlan, WorkerReport};
use crate::report::loadgen::LoadGenSample;
use crate::selfmon::cpu;
use crate::selfmon::lag::LagProbe;
use crate::stats::checker::CheckSummary;
use crate::stats::counters::Counters;
use crate::stats::downsample::{Downsampled, Merge};
use crate::stats::histogram::{self, Percentiles};

/// How many unread worker reports may queue up.
const REPORT_QUEUE: usize = 4096;
/// The most points the per-second series keeps (20 minutes at full
/// resolution; longer runs merge seconds, see [`Downsampled`]).
pub const SERIES_MAX_POINTS: usize = 1200;

/// Why the coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// Starting or talking to a worker failed.
    #[error("worker io: {0}")]
    Io(#[from] std::io::Error),
    /// A plan could not be serialized.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A worker exited before its final report.
    #[error("worker {0} exited early")]
    WorkerDied(usize),
    /// The workers did not finish in time.
    #[error("workers did not finish within {0:?}")]
    Timeout(Duration),
    /// The QUIC certificate's hash could not be had.
    #[error(transparent)]
    Trust(#[from] crate::client::trust::TrustError),
}

/// One second of the run (or, in runs longer than [`SERIES_MAX_POINTS`]
/// seconds, several merged), for the report's charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Seconds since the run started, at the end of the seconds it covers.
    pub t_s: f64,
    /// Open connections.
    pub connected: u64,
    /// Failed connect attempts so far.
    pub connect_fail: u64,
    /// Live deliveries in this second.
    pub deliveries_per_s: f64,
    /// Messages published in this second.
    pub published_per_s: f64,
    /// Delivery latency in this second.
    pub latency: Option<Percentiles>,
}

/// Merged seconds: the later time and gauges, the mean rates, and for
/// latency the summed count and the larger of each percentile (an upper
/// bound: exact percentiles would need a histogram per point).
impl Merge for SeriesPoint {
    fn merge(&mut self, self_weight: u64, other: &Self, other_weight: u64) {
        let (a, b) = (self_weight as f64, other_weight as f64);
        let mean = |x: f64, y: f64| (x * a + y * b) / (a + b).max(1.0);
        self.deliveries_per_s = mean(self.deliveries_per_s, other.deliveries_per_s);
        self.published_per_s = mean(self.published_per_s, other.published_per_s);
        self.t_s = self.t_s.max(other.t_s);
        self.connected = other.connected;
        self.connect_fail = other.connect_fail;
        self.latency = match (self.latency, other.latency) {
            (Some(x), Some(y)) => Some(Percentiles {
                count: x.count + y.count,
                mean_ms: (x.mean_ms * x.count as f64 + y.mean_ms * y.count as f64)
                    / (x.count + y.count).max(1) as f64,
                p50_ms: x.p50_ms.max(y.p50_ms),
                p90_ms: x.p90_ms.max(y.p90_ms),
                p99_ms: x.p99_ms.max(y.p99_ms),
                p999_ms: x.p999_ms.max(y.p999_ms),
                max_ms: x.max_ms.max(y.max_ms),
            }),
            (x, y) => x.or(y),
        };
    }
}

/// Everything merged from the workers.
#[derive(Debug)]
pub struct Aggregate {
    per_worker: Vec<Counters>,
    done: Vec<bool>,
    /// All delivery latencies.
    pub latency: Histogram<u64>,
    /// All connect latencies.
    pub connect_latency: Histogram<u64>,
    /// All avalanche recovery times.
    pub recovery: Histogram<u64>,
    /// The workers' event-loop lag since [`Coordinator::start_measuring`].
    pub receiver_lag: Histogram<u64>,
    interval: Histogram<u64>,
    /// Merged final delivery checks.
    pub check: CheckSummary,
    /// Per-second series, bounded.
    series: Downsampled<SeriesPoint>,
    last_t_s: f64,
    last_deliveries: u64,
    last_published: u64,
}

impl Aggregate {
    /// An empty aggregate for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Self {
            per_worker: vec![Counters::default(); workers],
            done: vec![false; workers],
            latency: histogram::new_histogram(),
            connect_latency: histogram::new_histogram(),
            recovery: histogram::new_histogram(),
            receiver_lag: histogram::new_histogram(),
            interval: histogram::new_histogram(),
            check: CheckSummary::default(),
            series: Downsampled::new(SERIES_MAX_POINTS),
            last_t_s: 0.0,
            last_deliveries: 0,
            last_published: 0,
        }
    }

    /// Takes one worker report: replaces that worker's counters, adds its
    /// histograms, and merges its final check.
    pub fn apply(&mut self, r: &WorkerReport) {
        let Some(slot) = self.per_worker.get_mut(r.worker) else {
            tracing::warn!("report from unknown worker {}", r.worker);
            return;
        };
        *slot = r.counters;
        let merge = |h: &mut Histogram<u64>, text: &Option<String>| {
            if let Some(t) = text
                && let Err(e) = histogram::merge_encoded(h, t)
            {
                tracing::warn!("bad histogram from worker: {e}");
            }
        };
        merge(&mut self.latency, &r.latency);
        merge(&mut self.interval, &r.latency);
        merge(&mut self.connect_latency, &r.connect_latency);
        merge(&mut self.recovery, &r.recovery);
        merge(&mut self.receiver_lag, &r.loop_lag);
        if r.done {
            if let Some(c) = &r.check {
                self.check.merge(c);
            }
            self.done[r.worker] = true;
        }
    }

    /// The counters summed over workers.
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        for c in &self.per_worker {
            t.merge(c);
        }
        t
    }

    /// True when every worker sent its final report.
    pub fn all_done(&self) -> bool {
        self.done.iter().all(|d| *d)
    }

    /// Closes the current second: adds a point to the series and returns it.
    pub fn close_second(&mut self, t_s: f64, published: u64) -> SeriesPoint {
        let totals = self.totals();
        let point = SeriesPoint {
            t_s,
            connected: totals.connected,
            connect_fail: totals.connect_fail,
            deliveries_per_s: totals.deliveries.saturating_sub(self.last_deliveries) as f64,
            published_per_s: published.saturating_sub(self.last_published) as f64,
            latency: Percentiles::of(&self.interval),
        };
        self.last_deliveries = totals.deliveries;
        self.last_published = published;
        self.interval.reset();
        self.last_t_s = t_s;
        self.series.push(point.clone());
        point
    }

    /// The per-second series (at most [`SERIES_MAX_POINTS`] points).
    pub fn series(&self) -> Vec<SeriesPoint> {
        self.series.points()
    }

    /// Seconds since the start at the last closed second.
    pub fn last_t_s(&self) -> f64 {
        self.last_t_s
    }
}

struct WorkerProc {
    child: Child,
    stdin: ChildStdin,
    /// For reading its CPU time in `/proc`.
    pid: Option<u32>,
}

/// A set of running workers.
pub struct Coordinator {
    workers: Vec<WorkerProc>,
    rx: mpsc::Receiver<Result<WorkerReport, usize>>,
    /// The merged state.
    pub agg: Aggregate,
    start: Instant,
    next_tick: Instant,
    progress: ProgressBar,
    published: Option<Arc<AtomicU64>>,
    expected_clients: u64,
    /// How late this process's runtime (the publisher's) wakes a task.
    lag: LagProbe,
    /// When the measured window began, and the CPU seconds then.
    measure_start: (Instant, Option<f64>),
    /// The tasks reading the workers' reports; awaited by [`Self::finish`].
    readers: TaskTracker,
}

impl Coordinator {
    /// Starts one worker process per plan.
    ///
    /// # Errors
    /// [`CoordinatorError`] when a process cannot be started, or the QUIC
    /// certificate's hash cannot be fetched (QUIC transports).
    pub async fn spawn(
        mut plans: Vec<WorkerPlan>,
        show_progress: bool,
    ) -> Result<Self, CoordinatorError> {
        crate::client::trust::prepare(&mut plans).await?;
        let exe = std::env::current_exe()?;
        let (tx, rx) = mpsc::channel(REPORT_QUEUE);
        let mut workers = Vec::new();
        let readers = TaskTracker::new();
        let expected_clients = plans.iter().map(|p| p.clients).sum();
        for plan in &plans {
            let mut child = Command::new(&exe)
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?;
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| std::io::Error::other("no worker stdin"))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no worker stdout"))?;
            let mut line = serde_json::to_vec(plan)?;
            line.push(b'\n');
            stdin.write_all(&line).await?;
            stdin.flush().await?;
            let tx = tx.clone();
            let id = plan.worker;
            readers.spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    match serde_json::from_str::<WorkerReport>(&l) {
                        Ok(r) => {
                            if tx.send(Ok(r)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("worker {id}: unreadable report: {e}"),
                    }
                }
                let _ = tx.send(Err(id)).await;
            });
            let pid = child.id();
            workers.push(WorkerProc { child, stdin, pid });
        }
        let progress = if show_progress && std::io::stderr().is_terminal() {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .expect("static template"),
            );
            pb
        } else {
            ProgressBar::hidden()
        };
        let now = Instant::now();
        let mut c = Self {
            agg: Aggregate::new(workers.len()),
            workers,
            rx,
            start: now,
            next_tick: now + Duration::from_secs(1),
            progress,
            published: None,
            expected_clients,
            lag: LagProbe::spawn(),
            measure_start: (now, None),
            readers,
        };
        c.measure_start.1 = c.loadgen_cpu_seconds();
        Ok(c)
    }

    /// CPU seconds used so far by this process and every worker; `None`
    /// when one cannot be read.
    pub fn loadgen_cpu_seconds(&self) -> Option<f64> {
        let mut total = cpu::self_cpu_seconds()?;
        for w in &self.workers {
            total += cpu::process_cpu_seconds(w.pid?)?;
        }
        Some(total)
    }

    /// Starts the load generator's measured window (CPU and loop lag) now;
    /// until called, the window starts when the workers did.
    pub fn start_measuring(&mut self) {
        self.agg.receiver_lag.reset();
        let _ = self.lag.take();
        self.measure_start = (Instant::now(), self.loadgen_cpu_seconds());
    }

    /// What the load generator used since the window started (call before
    /// [`Coordinator::finish`], while the workers still run).
    pub fn loadgen_sample(&self) -> LoadGenSample {
        let (t0, cpu0) = self.measure_start;
        let cpu = match (cpu0, self.loadgen_cpu_seconds()) {
            (Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        };
        LoadGenSample {
            cpu_seconds: cpu,
            wall_seconds: t0.elapsed().as_secs_f64(),
            processes: 1 + self.workers.len(),
            receiver_lag: Percentiles::of(&self.agg.receiver_lag),
            publisher_lag: Percentiles::of(&self.lag.take()),
        }
    }

    /// Seconds since the workers started.
    pub fn elapsed_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Counts this publisher's messages in the per-second series.
    pub fn watch_publisher(&mut self, sent: Arc<AtomicU64>) {
        self.published = Some(sent);
    }

    /// Sends `cmd` to every worker.
    ///
    /// # Errors
    /// [`CoordinatorError::Io`] when a worker's stdin is closed.
    pub async fn broadcast(&mut self, cmd: &Control) -> Result<(), CoordinatorError> {
        let mut line = serde_json::to_vec(cmd)?;
        line.push(b'\n');
        for w in &mut self.workers {
            w.stdin.write_all(&line).await?;
            w.stdin.flush().await?;
        }
        Ok(())
    }

    /// Merges reports until `done(&agg)` holds or `timeout` passes; true if
    /// the condition held.
    ///
    /// # Errors
    /// [`CoordinatorError::WorkerDied`] when a worker exits before its final report.
    pub async fn pump_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Aggregate) -> bool,
    ) -> Result<bool, CoordinatorError> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.agg) {
                return Ok(true);
            }
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(Ok(r)) => self.agg.apply(&r),
                    Some(Err(id)) => {
                        if !self.agg.done.get(id).copied().unwrap_or(true) {
                            return Err(CoordinatorError::WorkerDied(id));
                        }
                    }
                    None => return Ok(done(&self.agg)),
                },
                _ = tokio::time::sleep_until(self.next_tick) => self.tick(),
                _ = tokio::time::sleep_until(deadline) => return Ok(done(&self.agg)),
            }
        }
    }

    /// Merges reports for `d`.
    ///
    /// # Errors
    /// As [`Coordinator::pump_until`].
    pub async fn run_for(&mut self, d: Duration) -> Result<(), CoordinatorError> {
        self.pump_until(d, |_| false).await.map(|_| ())
    }

    /// Waits until every client's first connect (and subscribe) settled.
    ///
    /// # Errors
    /// As [`Coordinator::pump_until`].
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<bool, CoordinatorError> {
        let n = self.expected_clients;
        self.pump_until(timeout, |a| a.totals().ready_clients >= n)
            .await
    }

    fn tick(&mut self) {
        self.next_tick += Duration::from_secs(1);
        let published = self.published.as_ref().map_or(0, |p| p.load(Relaxed));
        let t = self.elapsed_s();
        let p = self.agg.close_second(t, published);
        let totals = self.agg.totals();
        let lat = p.latency.map_or(String::from("-"), |l| {
            format!("p50 {:.1}ms p99 {:.1}ms", l.p50_ms, l.p99_ms)
        });
        self.progress.set_message(format!(
            "conn {}/{} fail {} | pub {:.0}/s deliv {:.0}/s {lat} | disc {} recov {}",
            totals.connected,
            self.expected_clients,
            totals.connect_fail,
            p.published_per_s,
            p.deliveries_per_s,
            totals.disconnects,
            totals.recovered,
        ));
        self.progress.tick();
    }

    /// Tells the workers to finish, waits for their final reports and exits.
    ///
    /// # Errors
    /// [`CoordinatorError`] when a worker dies or does not finish in `timeout`.
    pub async fn finish(
        mut self,
        published: Vec<u64>,
        timeout: Duration,
    ) -> Result<Aggregate, CoordinatorError> {
        self.broadcast(&Control::Finish { published }).await?;
        let ok = self.pump_until(timeout, Aggregate::all_done).await?;
        self.progress.finish_and_clear();
        for w in &mut self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), w.child.wait()).await;
        }
        // The readers end at their worker's EOF; a reader blocked on a full
        // report queue ends when the queue's receiver goes with `self`.
        self.readers.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.readers.wait()).await;
        if !ok {
            return Err(CoordinatorError::Timeout(timeout));
        }
        Ok(self.agg)
    }
}

/// Splits `total` into `parts` near-equal shares (the first ones larger).
pub fn split(total: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|i| total / parts + u64::from(i < total % parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::{encode, new_histogram, record};

    #[test]
    fn shares_add_up() {
        assert_eq!(split(100_000, 6).iter().sum::<u64>(), 100_000);
        assert_eq!(split(7, 3), vec![3, 2, 2]);
        assert_eq!(split(5, 0), vec![5]);
    }

    fn report(worker: usize, deliveries: u64, lat: &[u64], done: bool) -> WorkerReport {
        let mut h = new_histogram();
        for &v in lat {
            record(&mut h, v);
        }
        WorkerReport {
            worker,
            counters: Counters {
                deliveries,
                connected: 10,
                ..Counters::default()
            },
            latency: Some(encode(&h).unwrap()),
            check: done.then(|| CheckSummary {
                streams: 10,
                expected: 5,
                delivered: 5,
                ..CheckSummary::default()
            }),
            done,
            ..WorkerReport::default()
        }
    }

    #[test]
    fn a_long_run_keeps_a_bounded_series_that_covers_it() {
        // Three hours of seconds, one slow second in the middle.
        let mut agg = Aggregate::new(1);
        for s in 1..=10_800u32 {
            let lat = if s == 5_400 { 900_000 } else { 2_000 };
            agg.apply(&report(0, u64::from(s) * 100, &[lat], false));
            agg.close_second(f64::from(s), u64::from(s) * 10);
        }
        let series = agg.series();
        assert!(series.len() <= SERIES_MAX_POINTS + 1, "{}", series.len());
        assert!(series.len() >= SERIES_MAX_POINTS / 2, "{}", series.len());
        assert_eq!(series.last().unwrap().t_s, 10_800.0);
        assert_eq!(agg.last_t_s(), 10_800.0);
        // Rates are means, and the slow second survives as an upper bound.
        assert!(
            series
                .iter()
                .all(|p| (p.deliveries_per_s - 100.0).abs() < 1e-9)
        );
        let worst = series
            .iter()
            .filter_map(|p| p.latency)
            .map(|l| l.max_ms)
            .fold(0.0, f64::max);
        assert!(worst >= 899.0, "{worst}");
        let count: u64 = series
            .iter()
            .filter_map(|p| p.latency)
            .map(|l| l.count)
            .sum();
        assert_eq!(count, 10_800);
    }

    #[test]
    fn reports_from_several_workers_merge_into_totals_and_series() {
        let mut agg = Aggregate::new(2);
        agg.apply(&report(0, 100, &[1000, 2000], false));
        agg.apply(&report(1, 50, &[3000], false));
        let p = agg.close_second(1.0, 10);
        assert_eq!(
            (p.connected, p.deliveries_per_s, p.published_per_s),
            (20, 150.0, 10.0)
        );
        assert_eq!(p.latency.unwrap().count, 3);
        // Counters are cumulative: a newer report replaces the older one.
        agg.apply(&report(0, 300, &[], true));
        agg.apply(&report(1, 50, &[], true));
        let p = agg.close_second(2.0, 30);
        assert_eq!((p.deliveries_per_s, p.published_per_s), (200.0, 20.0));
        assert!(p.latency.is_none());
        assert!(agg.all_done());
        assert_eq!((agg.check.streams, agg.check.expected), (20, 10));
        assert_eq!(agg.latency.len(), 3);
        agg.apply(&report(9, 1, &[], true));
        assert_eq!(agg.totals().deliveries, 350);
    }
}
