//! `soak`: churn plus low-rate fan-out for a long time, sampling each
//! gateway's memory (live heap when exported, RSS, allocator figures) and
//! the machine's load average; the verdict comes from
//! [`super::soak_verdict`] (rule in [`crate::stats::leak`]).
//!
//! Memory is bounded by construction: every series is a
//! [`Downsampled`] of at most `--max-series-points` points, the
//! contention counts are two integers, and the run's per-second series is
//! bounded by the coordinator; so a 2-hour or a 2-day soak holds the same
//! few hundred kilobytes of samples.

use tokio::time::Instant;

use super::soak_verdict::{self, MemorySeries};
use super::{Load, ScenarioError, load_report, params};
use crate::cli::SoakArgs;
use crate::report::soak::SoakReport;
use crate::report::{EXIT_INCONCLUSIVE, EXIT_LEAK, RunReport};
use crate::selfmon::cpu;
use crate::stats::contention::{Contention, ContentionRule, LOADAVG_WINDOW_S, read_loadavg};
use crate::stats::downsample::Downsampled;
use crate::stats::leak::{LeakRule, LeakVerdict, Signal};

fn check(a: &SoakArgs) -> Result<(), ScenarioError> {
    let bad = |m: &str| Err(ScenarioError::Config(m.into()));
    if a.sample_interval.is_zero() {
        return bad("--sample-interval must be positive");
    }
    if !(a.leak_threshold_mb_per_hour.is_finite() && a.leak_threshold_mb_per_hour >= 0.0) {
        return bad("--leak-threshold-mb-per-hour must be a number ≥ 0");
    }
    if !(a.max_load_per_core.is_finite() && a.max_load_per_core > 0.0) {
        return bad("--max-load-per-core must be a positive number");
    }
    if !(a.contended_fraction > 0.0 && a.contended_fraction <= 1.0) {
        return bad("--contended-fraction must be in (0, 1]");
    }
    Ok(())
}

/// Runs the scenario.
///
/// # Errors
/// [`ScenarioError`] for bad flags or dead workers.
pub async fn run(a: &SoakArgs) -> Result<RunReport, ScenarioError> {
    check(a)?;
    let warmup = a.warmup.unwrap_or(a.common.duration.mul_f64(0.3));
    let rule = LeakRule {
        threshold_mb_per_hour: a.leak_threshold_mb_per_hour,
        warmup_s: warmup.as_secs_f64(),
        windows: usize::from(a.leak_windows),
    };
    let mut contention = Contention::new(
        cpu::cores(),
        ContentionRule {
            max_load_per_core: a.max_load_per_core,
            max_fraction: a.contended_fraction,
        },
    );
    let cap = usize::from(a.max_series_points);
    let mut load = Load::start(&a.common, &a.load, a.churn_rate).await?;
    let n = a.common.admins.len();
    let mut memory: Vec<MemorySeries> = (0..n).map(|_| MemorySeries::new(cap)).collect();
    let mut loadavg = Downsampled::new(cap);
    let mut samples = 0u64;
    let start = Instant::now();
    let end = start + a.common.duration;
    loop {
        let t = start.elapsed().as_secs_f64();
        for (m, s) in memory.iter_mut().zip(load.scrape().await) {
            m.push(t, &s);
        }
        samples += 1;
        if let Some(l) = read_loadavg() {
            loadavg.push((t, l));
            if t >= rule.warmup_s.max(LOADAVG_WINDOW_S) {
                contention.observe(l);
            }
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        load.coord.run_for(a.sample_interval.min(end - now)).await?;
    }
    let f = load.finish().await?;
    let mut p = params(&a.common, Some(&a.load));
    p.extend([
        ("churn_rate".into(), a.churn_rate.to_string()),
        ("sample_interval".into(), format!("{:?}", a.sample_interval)),
        ("warmup".into(), format!("{warmup:?}")),
        (
            "leak_threshold_mb_per_hour".into(),
            a.leak_threshold_mb_per_hour.to_string(),
        ),
        ("leak_windows".into(), a.leak_windows.to_string()),
        ("max_load_per_core".into(), a.max_load_per_core.to_string()),
        (
            "contended_fraction".into(),
            a.contended_fraction.to_string(),
        ),
    ]);
    let mut r = load_report("soak", p, &a.common, &f);

    let mut judged: Vec<(String, soak_verdict::GatewayVerdict)> = r
        .gateways
        .iter()
        .zip(&memory)
        .map(|(g, m)| {
            let v = soak_verdict::analyse_gateway(&m.heap.points(), &m.rss.points(), &rule);
            (g.admin.clone(), v)
        })
        .collect();
    let cpu_saturated = r.loadgen.as_ref().is_some_and(|l| l.cpu_saturated);
    let decision = soak_verdict::decide(&mut judged, &contention, cpu_saturated);
    let mut signal = Signal::Heap;
    for ((g, m), (_, v)) in r.gateways.iter_mut().zip(&memory).zip(judged) {
        if v.leak.signal == Signal::Rss {
            signal = Signal::Rss;
        }
        g.rss_samples = m.rss.points();
        g.heap_samples = m.heap.points();
        g.heap_resident_samples = m.heap_resident.points();
        g.heap_retained_samples = m.heap_retained.points();
        g.leak = Some(v.leak);
        g.rss_leak = v.rss_leak;
        g.retention = v.retention;
    }
    match decision.verdict {
        LeakVerdict::Leak => {
            r.failures.push(format!("{} grows: LEAK", signal.label()));
            r.exit_code = EXIT_LEAK;
        }
        LeakVerdict::Inconclusive if r.exit_code == 0 => r.exit_code = EXIT_INCONCLUSIVE,
        _ => {}
    }
    r.soak = Some(SoakReport {
        verdict: decision.verdict,
        reason: decision.reason,
        rule: soak_verdict::rule_text(&rule, &contention),
        thresholds: rule,
        signal,
        contention,
        loadgen_saturated: r.saturated,
        loadgen_cpu_saturated: cpu_saturated,
        loadavg: loadavg.points(),
        samples,
        stride: memory.first().map_or(1, |m| m.rss.stride()),
    });
    Ok(r)
}
