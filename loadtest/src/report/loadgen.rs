//! The load generator's own figures for a run, and the saturation verdict
//! on them (rule: [`crate::stats::saturation`]).

use serde::{Deserialize, Serialize};

use crate::selfmon::cpu;
use crate::stats::histogram::Percentiles;
use crate::stats::saturation::{self, SaturationRule, SelfMeasure};

/// What the coordinator measured over the window, before judging.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadGenSample {
    /// CPU seconds of the coordinator and all workers, if readable.
    pub cpu_seconds: Option<f64>,
    /// The window, seconds.
    pub wall_seconds: f64,
    /// Processes counted (the coordinator and its workers).
    pub processes: usize,
    /// Workers' event-loop lag.
    pub receiver_lag: Option<Percentiles>,
    /// The coordinator's (publisher's) event-loop lag.
    pub publisher_lag: Option<Percentiles>,
}

/// The load generator's section of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoadGenReport {
    /// CPU seconds its processes used over the window.
    pub cpu_seconds: Option<f64>,
    /// The window: first publish to the end of the drain (whole run for `connect`).
    pub wall_seconds: f64,
    /// Cores available to it.
    pub cores: usize,
    /// Processes counted (the coordinator and its workers).
    pub processes: usize,
    /// CPU seconds per wall second (cores in use on average).
    pub cpu_cores_used: Option<f64>,
    /// Workers' event-loop lag (how late a 10 ms timer woke).
    pub receiver_lag: Option<Percentiles>,
    /// The coordinator's (publisher's) event-loop lag.
    pub publisher_lag: Option<Percentiles>,
    /// The loop-lag limit applied, ms.
    pub lag_limit_ms: f64,
    /// The verdict: the load generator, not the gateway, was the limit.
    pub saturated: bool,
    /// The CPU criterion alone: it used ≥ 90% of its cores.
    #[serde(default)]
    pub cpu_saturated: bool,
    /// Which criteria fired.
    pub reasons: Vec<String>,
    /// The rule, in words.
    pub rule: String,
}

/// Judges `s` with the default rule, given the run's delivery p99.
pub fn build(s: &LoadGenSample, latency_p99_ms: Option<f64>) -> LoadGenReport {
    let rule = SaturationRule::default();
    let cores = cpu::cores();
    let lag = |p: &Option<Percentiles>| p.map(|p| (p.p99_ms, p.count));
    let verdict = saturation::judge(
        &SelfMeasure {
            cpu_seconds: s.cpu_seconds,
            wall_seconds: s.wall_seconds,
            cores,
            receiver_lag: lag(&s.receiver_lag),
            publisher_lag: lag(&s.publisher_lag),
            latency_p99_ms,
        },
        &rule,
    );
    LoadGenReport {
        cpu_seconds: s.cpu_seconds,
        wall_seconds: s.wall_seconds,
        cores,
        processes: s.processes,
        cpu_cores_used: s
            .cpu_seconds
            .filter(|_| s.wall_seconds > 0.0)
            .map(|c| c / s.wall_seconds),
        receiver_lag: s.receiver_lag,
        publisher_lag: s.publisher_lag,
        lag_limit_ms: verdict.lag_limit_ms,
        saturated: verdict.saturated,
        cpu_saturated: verdict.cpu_saturated,
        reasons: verdict.reasons,
        rule: format!(
            "saturated when the load generator uses ≥ {:.0}% of its {cores} cores, or an event loop's lag p99 exceeds max({} ms, {:.0}% of the delivery p99)",
            100.0 * rule.max_cpu_share,
            rule.lag_floor_ms,
            100.0 * rule.lag_share
        ),
    }
}

impl LoadGenReport {
    /// One line for the summary table.
    pub fn describe(&self) -> String {
        let cpu = match (self.cpu_seconds, self.cpu_cores_used) {
            (Some(c), Some(u)) => format!(
                "CPU {c:.2}s over {:.1}s ({u:.2} of {} cores, {} processes)",
                self.wall_seconds, self.cores, self.processes
            ),
            _ => format!("CPU unknown over {:.1}s", self.wall_seconds),
        };
        let lag = |p: &Option<Percentiles>| {
            p.map_or("-".to_owned(), |p| format!("p99 {:.1} ms", p.p99_ms))
        };
        format!(
            "{cpu}; loop lag receivers {}, publisher {} (limit {:.1} ms)",
            lag(&self.receiver_lag),
            lag(&self.publisher_lag),
            self.lag_limit_ms
        )
    }
}
