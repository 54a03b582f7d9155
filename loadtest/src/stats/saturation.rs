//! Was the load generator, not the gateway, the limit of a run?
//!
//! # Rule
//! Over the measured window (first publish to the end of the drain; the
//! whole run for `connect`), the load generator is **saturated** when any of:
//! 1. **CPU.** Its processes (coordinator and every worker) used at least
//!    `max_cpu_share` (90%) of the cores it has: it had the machine, so
//!    the gateway was starved or the clients were.
//! 2. **Receivers' event loops lag.** Each worker runs a probe task that
//!    asks to wake every 10 ms and records how late it woke. When the p99 of
//!    that lateness is above `max(lag_floor_ms, lag_share × delivery p99)`
//!    (2 ms, 10%), a message could wait about that long in the client
//!    before it is timed: a tenth of the latency figure would be the client's.
//! 3. **The publisher's event loop lags**, by the same limit (its payloads
//!    are stamped before the request is written).
//!
//! Tokio's timer has a 1 ms resolution, so an idle loop already shows up to
//! about 1 ms; the 2 ms floor sits above that. When the loops lag while the
//! load generator used under half the cores itself, other processes starved
//! it (a busy machine): the run is flagged all the same, since its latency
//! figures then include that wait, and the reasons say so.

use serde::{Deserialize, Serialize};

/// Below this share of the cores, a lagging load generator is starved by
/// other processes rather than busy itself (the report says which).
const STARVED_BELOW: f64 = 0.5;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SaturationRule {
    /// CPU used ÷ (wall time × cores) at or above this is saturation.
    pub max_cpu_share: f64,
    /// Loop-lag p99 above this many ms is always saturation.
    pub lag_floor_ms: f64,
    /// Loop-lag p99 above this share of the delivery p99 is saturation.
    pub lag_share: f64,
    /// Lag probes needed before lag is judged.
    pub min_lag_samples: u64,
}

impl Default for SaturationRule {
    fn default() -> Self {
        Self {
            max_cpu_share: 0.9,
            lag_floor_ms: 2.0,
            lag_share: 0.1,
            min_lag_samples: 10,
        }
    }
}

/// What the load generator measured about itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SelfMeasure {
    /// CPU seconds of all its processes over the window, if readable.
    pub cpu_seconds: Option<f64>,
    /// The window, seconds.
    pub wall_seconds: f64,
    /// Cores available to it.
    pub cores: usize,
    /// Receivers' loop lag: (p99 ms, probes).
    pub receiver_lag: Option<(f64, u64)>,
    /// Publisher's loop lag: (p99 ms, probes).
    pub publisher_lag: Option<(f64, u64)>,
    /// The delivery latency p99 of the run, ms.
    pub latency_p99_ms: Option<f64>,
}

/// The judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Saturation {
    /// True when any criterion fired.
    pub saturated: bool,
    /// The criteria that fired, in words.
    pub reasons: Vec<String>,
    /// The loop-lag limit applied, ms.
    pub lag_limit_ms: f64,
    /// CPU used ÷ (wall × cores), when known.
    pub cpu_share: Option<f64>,
    /// True when the CPU criterion fired: the load generator had the
    /// machine (the soak's verdict looks at this one).
    pub cpu_saturated: bool,
}

/// Applies `rule` to `m`.
pub fn judge(m: &SelfMeasure, rule: &SaturationRule) -> Saturation {
    let mut s = Saturation {
        lag_limit_ms: rule
            .lag_floor_ms
            .max(rule.lag_share * m.latency_p99_ms.unwrap_or(0.0)),
        ..Saturation::default()
    };
    if let Some(cpu) = m.cpu_seconds
        && m.wall_seconds > 0.0
        && m.cores > 0
    {
        let share = cpu / (m.wall_seconds * m.cores as f64);
        s.cpu_share = Some(share);
        if share >= rule.max_cpu_share {
            s.cpu_saturated = true;
            s.reasons.push(format!(
                "load generator used {:.2} of {} cores ({:.0}% ≥ {:.0}%)",
                cpu / m.wall_seconds,
                m.cores,
                100.0 * share,
                100.0 * rule.max_cpu_share
            ));
        }
    }
    for (who, lag) in [
        ("receivers'", m.receiver_lag),
        ("publisher's", m.publisher_lag),
    ] {
        if let Some((p99, n)) = lag
            && n >= rule.min_lag_samples
            && p99 > s.lag_limit_ms
        {
            s.reasons.push(format!(
                "{who} event loops lag p99 {p99:.1} ms > {:.1} ms",
                s.lag_limit_ms
            ));
        }
    }
    if !s.reasons.is_empty()
        && let Some(share) = s.cpu_share
        && share < STARVED_BELOW
    {
        s.reasons.push(format!(
            "it used only {:.0}% of the cores itself: other processes starved it",
            100.0 * share
        ));
    }
    s.saturated = !s.reasons.is_empty();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> SelfMeasure {
        SelfMeasure {
            cpu_seconds: Some(12.0),
            wall_seconds: 30.0,
            cores: 2,
            receiver_lag: Some((0.9, 3000)),
            publisher_lag: Some((1.0, 3000)),
            latency_p99_ms: Some(14.0),
        }
    }

    #[test]
    fn an_idle_load_generator_is_not_saturated() {
        let s = judge(&quiet(), &SaturationRule::default());
        assert!(!s.saturated, "{s:?}");
        assert!((s.cpu_share.unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(s.lag_limit_ms, 2.0, "10% of 14 ms is under the floor");
    }

    #[test]
    fn most_of_the_cores_is_saturation() {
        let m = SelfMeasure {
            cpu_seconds: Some(54.0),
            ..quiet()
        };
        let s = judge(&m, &SaturationRule::default());
        assert!(s.saturated && s.cpu_saturated);
        assert!(s.reasons[0].contains("1.80 of 2 cores"), "{:?}", s.reasons);
        // Just under 90% is not.
        let m = SelfMeasure {
            cpu_seconds: Some(53.9),
            ..quiet()
        };
        assert!(!judge(&m, &SaturationRule::default()).saturated);
    }

    #[test]
    fn lag_is_judged_against_the_latency_it_could_inflate() {
        let rule = SaturationRule::default();
        // 5 ms of client lag in a 14 ms p99: saturated.
        let m = SelfMeasure {
            receiver_lag: Some((5.0, 3000)),
            ..quiet()
        };
        let s = judge(&m, &rule);
        assert!(
            s.saturated && s.reasons[0].starts_with("receivers'"),
            "{s:?}"
        );
        assert!(!s.cpu_saturated, "lag alone is not the CPU criterion");
        assert!(s.reasons[1].contains("other processes starved it"), "{s:?}");
        // The same 5 ms in a 500 ms p99 (a 10,000-client room): 1%, not saturated.
        let m = SelfMeasure {
            receiver_lag: Some((5.0, 3000)),
            latency_p99_ms: Some(500.0),
            ..quiet()
        };
        let s = judge(&m, &rule);
        assert!(!s.saturated, "{s:?}");
        assert_eq!(s.lag_limit_ms, 50.0);
        // 60 ms there is.
        let m = SelfMeasure {
            receiver_lag: Some((60.0, 3000)),
            latency_p99_ms: Some(500.0),
            ..quiet()
        };
        assert!(judge(&m, &rule).saturated);
        // The publisher's loop counts too.
        let m = SelfMeasure {
            publisher_lag: Some((3.0, 3000)),
            ..quiet()
        };
        let s = judge(&m, &rule);
        assert!(
            s.saturated && s.reasons[0].starts_with("publisher's"),
            "{s:?}"
        );
    }

    #[test]
    fn unknowns_and_too_few_probes_are_not_saturation() {
        let m = SelfMeasure {
            cpu_seconds: None,
            receiver_lag: Some((100.0, 3)),
            publisher_lag: None,
            latency_p99_ms: None,
            ..quiet()
        };
        let s = judge(&m, &SaturationRule::default());
        assert!(!s.saturated, "{s:?}");
        assert!(s.cpu_share.is_none());
        assert!(!judge(&SelfMeasure::default(), &SaturationRule::default()).saturated);
    }
}
