//! A worker process: drives its share of the clients and reports once a
//! second on stdout (see [`crate::plan`] for the messages).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::Rng as _;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{ClientEvent, ConnectOptions, Connection, RoomStart, Target, TransportCtx};
use crate::plan::{Control, WorkerPlan, WorkerReport};
use crate::scenarios::rooms::{RoomSampler, room_name};
use crate::selfmon::lag::LagProbe;
use crate::stats::checker::{CheckSummary, RoomChecker, Verdict};
use crate::stats::counters::AtomicCounters;
use crate::stats::histogram::{self, HistError};

/// Latency histograms are sharded to keep lock contention low.
const SHARDS: usize = 8;
/// The longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a worker stopped early.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading stdin or writing stdout failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A plan or control line was not valid JSON of the right shape.
    #[error("bad input line: {0}")]
    Json(#[from] serde_json::Error),
    /// The plan cannot be carried out.
    #[error("bad plan: {0}")]
    Plan(String),
    /// A histogram could not be encoded.
    #[error(transparent)]
    Hist(#[from] HistError),
}

/// Raises this process's soft open-files limit to its hard limit and
/// returns the new soft limit.
pub fn raise_nofile() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("could not raise RLIMIT_NOFILE: {e}");
            0
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Phase {
    drop_gen: u64,
    finish: bool,
}

struct Shared {
    plan: WorkerPlan,
    targets: Vec<Target>,
    ctx: TransportCtx,
    sampler: Option<RoomSampler>,
    counters: AtomicCounters,
    latency: Vec<Mutex<Histogram<u64>>>,
    connect_latency: Mutex<Histogram<u64>>,
    recovery: Mutex<Histogram<u64>>,
    published: Mutex<Arc<Vec<u64>>>,
    summary: Mutex<CheckSummary>,
    start: Instant,
    /// How late this runtime wakes a task (the receivers' scheduling lag).
    lag: LagProbe,
}

/// Runs a worker: reads the plan and control lines from `input`, writes
/// reports to `output`, returns when told to finish (or `input` closes).
///
/// # Errors
/// [`WorkerError`] when the plan is unreadable or stdout breaks.
pub async fn run<R, W>(input: R, mut output: W) -> Result<(), WorkerError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut lines = input.lines();
    let first = lines
        .next_line()
        .await?
        .ok_or_else(|| WorkerError::Plan("no plan on stdin".into()))?;
    let plan: WorkerPlan = serde_json::from_str(&first)?;
    let mut targets = Vec::new();
    for (i, url) in plan.urls.iter().enumerate() {
        let mut t = Target::resolve(url)
            .await
            .map_err(|e| WorkerError::Plan(e.to_string()))?;
        if let Some(&port) = plan.quic_ports.get(i) {
            t.quic_addr.set_port(port);
        }
        targets.push(t);
    }
    let ctx = TransportCtx::new(plan.transport, &plan.quic_cert_hashes)
        .map_err(|e| WorkerError::Plan(e.to_string()))?;
    if targets.is_empty() || plan.source_addrs.is_empty() {
        return Err(WorkerError::Plan(
            "need at least one url and one source address".into(),
        ));
    }
    let sampler = if plan.rooms.count > 0 {
        Some(
            RoomSampler::new(plan.rooms.count, plan.rooms.zipf)
                .map_err(|e| WorkerError::Plan(e.to_string()))?,
        )
    } else {
        None
    };
    let shared = Arc::new(Shared {
        targets,
        ctx,
        sampler,
        counters: AtomicCounters::default(),
        latency: (0..SHARDS)
            .map(|_| Mutex::new(histogram::new_histogram()))
            .collect(),
        connect_latency: Mutex::new(histogram::new_histogram()),
        recovery: Mutex::new(histogram::new_histogram()),
        published: Mutex::new(Arc::new(Vec::new())),
        summary: Mutex::new(CheckSummary::default()),
        start: Instant::now(),
        lag: LagProbe::spawn(),
        plan,
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::default());
    let mut clients = JoinSet::new();
    for local in 0..shared.plan.clients {
        clients.spawn(client_task(shared.clone(), local, phase_rx.clone()));
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut input_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => write_report(&shared, &mut output, false).await?,
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            line = lines.next_line(), if input_open => {
                match line? {
                    Some(l) if l.trim().is_empty() => {}
                    Some(l) => match serde_json::from_str::<Control>(&l)? {
                        Control::DropAll => phase_tx.send_modify(|p| p.drop_gen += 1),
                        Control::Finish { published } => {
                            *shared.published.lock() = Arc::new(published);
                            phase_tx.send_modify(|p| p.finish = true);
                        }
                    },
                    None => {
                        input_open = false;
                        phase_tx.send_modify(|p| p.finish = true);
                    }
                }
            }
        }
        if phase_tx.borrow().finish && clients.is_empty() {
            break;
        }
    }
    write_report(&shared, &mut output, true).await
}

async fn write_report<W: AsyncWrite + Unpin>(
    sh: &Shared,
    out: &mut W,
    done: bool,
) -> Result<(), WorkerError> {
    let mut lat = histogram::new_histogram();
    for shard in &sh.latency {
        let mut h = shard.lock();
        // Same bounds on both sides, so adding cannot fail.
        let _ = lat.add(&*h);
        h.reset();
    }
    let take = |m: &Mutex<Histogram<u64>>| -> Result<Option<String>, HistError> {
        let mut h = m.lock();
        let out = if h.is_empty() {
            None
        } else {
            Some(histogram::encode(&h)?)
        };
        h.reset();
        Ok(out)
    };
    let report = WorkerReport {
        worker: sh.plan.worker,
        counters: sh.counters.snapshot(),
        latency: if lat.is_empty() {
            None
        } else {
            Some(histogram::encode(&lat)?)
        },
        connect_latency: take(&sh.connect_latency)?,
        recovery: take(&sh.recovery)?,
        loop_lag: {
            let h = sh.lag.take();
            if h.is_empty() {
                None
            } else {
                Some(histogram::encode(&h)?)
            }
        },
        check: done.then(|| sh.summary.lock().clone()),
        done,
    };
    let mut line = serde_json::to_vec(&report)?;
    line.push(b'\n');
    out.write_all(&line).await?;
    out.flush().await?;
    Ok(())
}

pub use herald_service::clock::unix_nanos;

/// Waits until the phase says finish (or the coordinator is gone).
async fn wait_finish(phase: &mut watch::Receiver<Phase>) {
    while !phase.borrow_and_update().finish {
        if phase.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps `d`; true if the run finished meanwhile.
async fn sleep_or_finish(d: Duration, phase: &mut watch::Receiver<Phase>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => phase.borrow().finish,
        _ = wait_finish(phase) => true,
    }
}

fn next_churn(sh: &Shared) -> Option<Instant> {
    if sh.plan.churn_rate <= 0.0 || sh.plan.clients == 0 {
        return None;
    }
    let mean = sh.plan.clients as f64 / sh.plan.churn_rate;
    let factor: f64 = rand::rng().random_range(0.5..1.5);
    Some(Instant::now() + Duration::from_secs_f64(mean * factor))
}

fn settle(sh: &Shared, settled: &mut bool) {
    if !*settled {
        *settled = true;
        AtomicCounters::inc(&sh.counters.ready_clients);
    }
}

fn bump(field: &AtomicU64) {
    AtomicCounters::inc(field);
}

enum End {
    Finish,
    Drop,
    Churn,
    Lost { reconnect: bool },
}

async fn client_task(sh: Arc<Shared>, local: u64, mut phase: watch::Receiver<Phase>) {
    let plan = &sh.plan;
    let global = plan.first_client + local;
    if plan.connect_rate > 0.0 {
        let at = sh.start + Duration::from_secs_f64(local as f64 / plan.connect_rate);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = wait_finish(&mut phase) => return,
        }
    }
    let rooms: Vec<u32> = match &sh.sampler {
        Some(s) => s
            .rooms_for(global, plan.rooms.per_client, plan.rooms.seed)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let names: Vec<String> = rooms
        .iter()
        .map(|&r| room_name(&plan.rooms.prefix, r))
        .collect();
    let mut checkers = vec![RoomChecker::new(); rooms.len()];
    let n_src = plan.source_addrs.len() as u64;
    let src = plan.source_addrs[(global % n_src) as usize];
    let target = &sh.targets[((global / n_src) % sh.targets.len() as u64) as usize];
    let opts = ConnectOptions {
        format: plan.format,
        timeout: Duration::from_millis(plan.connect_timeout_ms),
        sio_room_template: &plan.sio_room_template,
        token: plan.token.as_deref(),
        ctx: &sh.ctx,
    };
    let shard = &sh.latency[(local as usize) % SHARDS];
    let mut settled = false;
    let mut seen_gen = phase.borrow().drop_gen;
    let mut drop_started: Option<Instant> = None;
    let mut backoff = Duration::from_millis(100);
    let mut churn_at = next_churn(&sh);
    loop {
        {
            let p = phase.borrow_and_update().clone();
            if p.finish {
                break;
            }
            if p.drop_gen != seen_gen {
                seen_gen = p.drop_gen;
                drop_started.get_or_insert_with(Instant::now);
            }
        }
        bump(&sh.counters.attempts);
        let t0 = Instant::now();
        let starts: Vec<RoomStart<'_>> = names
            .iter()
            .zip(&checkers)
            .map(|(n, c)| (n.as_str(), c.position()))
            .collect();
        let conn = tokio::select! {
            r = Connection::connect(plan.transport, target, src, opts, &starts) => r,
            _ = wait_finish(&mut phase) => break,
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                bump(&sh.counters.connect_fail);
                tracing::debug!(client = global, "connect failed: {e}");
                if !settled && !plan.retry {
                    settle(&sh, &mut settled);
                    wait_finish(&mut phase).await;
                    break;
                }
                if sleep_or_finish(jitter(backoff), &mut phase).await {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        bump(&sh.counters.connect_ok);
        bump(&sh.counters.connected);
        histogram::record(
            &mut sh.connect_latency.lock(),
            t0.elapsed().as_micros() as u64,
        );
        let mut pending = names.len();
        let mut send_failed = false;
        for (i, name) in names.iter().enumerate() {
            if conn
                .subscribe(name, checkers[i].position(), i as u64)
                .await
                .is_err()
            {
                send_failed = true;
                break;
            }
        }
        let on_all_subscribed = |settled: &mut bool, drop_started: &mut Option<Instant>| {
            settle(&sh, settled);
            if let Some(t) = drop_started.take() {
                histogram::record(&mut sh.recovery.lock(), t.elapsed().as_micros() as u64);
                bump(&sh.counters.avalanche_recovered);
            }
        };
        if pending == 0 && !send_failed {
            on_all_subscribed(&mut settled, &mut drop_started);
        }
        let end = if send_failed {
            End::Lost { reconnect: true }
        } else {
            loop {
                let churn_sleep = async {
                    match churn_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ev = conn.next_event() => match ev {
                        Ok(Some(ClientEvent::Subscribed { room, epoch, offset, recovered })) => {
                            bump(&sh.counters.subscribed);
                            let Some(i) = names.iter().position(|n| *n == room) else { continue };
                            if pending > 0 && checkers[i].position().is_some() {
                                bump(if recovered { &sh.counters.recovered } else { &sh.counters.not_recovered });
                            }
                            checkers[i].on_subscribed(&epoch, offset, recovered);
                            if pending > 0 {
                                pending -= 1;
                                if pending == 0 {
                                    on_all_subscribed(&mut settled, &mut drop_started);
                                }
                            }
                        }
                        Ok(Some(ClientEvent::Message { room, offset, data })) => {
                            bump(&sh.counters.messages);
                            let Some(i) = names.iter().position(|n| *n == room) else { continue };
                            let seq = data.get("seq").and_then(Value::as_u64);
                            let verdict = checkers[i].on_message(offset, seq);
                            if matches!(verdict, Verdict::InOrder | Verdict::Gap(_) | Verdict::OutOfOrder) {
                                bump(&sh.counters.deliveries);
                                if let Some(ts) = data.get("ts_ns").and_then(Value::as_u64) {
                                    let us = unix_nanos().saturating_sub(ts) / 1000;
                                    histogram::record(&mut shard.lock(), us);
                                }
                            }
                        }
                        Ok(Some(ClientEvent::Error { code, reason })) => {
                            bump(&sh.counters.errors);
                            tracing::debug!(client = global, code, "gateway error: {reason}");
                            if pending > 0 {
                                pending -= 1;
                                if pending == 0 {
                                    on_all_subscribed(&mut settled, &mut drop_started);
                                }
                            }
                        }
                        Ok(Some(ClientEvent::Disconnect { reconnect, .. })) => break End::Lost { reconnect },
                        Ok(Some(ClientEvent::Other)) => {}
                        Ok(None) | Err(_) => break End::Lost { reconnect: true },
                    },
                    changed = phase.changed() => {
                        if changed.is_err() {
                            break End::Finish;
                        }
                        let p = phase.borrow_and_update().clone();
                        if p.finish {
                            break End::Finish;
                        }
                        if p.drop_gen != seen_gen {
                            seen_gen = p.drop_gen;
                            drop_started = Some(Instant::now());
                            break End::Drop;
                        }
                    }
                    _ = churn_sleep => break End::Churn,
                }
            }
        };
        AtomicCounters::dec(&sh.counters.connected);
        match end {
            End::Finish => {
                conn.close().await;
                break;
            }
            End::Drop => {
                // Abrupt: no close frame, like a network cut.
                drop(conn);
                bump(&sh.counters.client_closes);
            }
            End::Churn => {
                conn.close().await;
                bump(&sh.counters.client_closes);
                churn_at = next_churn(&sh);
            }
            End::Lost { reconnect } => {
                bump(&sh.counters.disconnects);
                if !reconnect {
                    wait_finish(&mut phase).await;
                    break;
                }
                if sleep_or_finish(jitter(backoff), &mut phase).await {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    settle(&sh, &mut settled);
    if !rooms.is_empty() {
        let published = sh.published.lock().clone();
        let mut sum = CheckSummary::default();
        for (i, &r) in rooms.iter().enumerate() {
            sum.merge(&checkers[i].finish(published.get(r as usize).copied().unwrap_or(0)));
        }
        sh.summary.lock().merge(&sum);
    }
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.5..1.5))
}
