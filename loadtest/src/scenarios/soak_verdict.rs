//! The soak's verdict from its samples: which signal each gateway is judged
//! on, the leak rule on it ([`crate::stats::leak`]), the RSS comparison,
//! and the run's verdict given the machine's load and the load generator's
//! saturation. No I/O: [`super::soak`] feeds it, tests feed it fixtures.
//!
//! # Verdict over the run
//! - `LEAK` when a gateway's signal grows by the rule, on an uncontended
//!   machine with an unsaturated load generator.
//! - `INCONCLUSIVE` when such growth was seen on a contended machine or
//!   with a load generator that used ≥ 90% of the cores (a starved
//!   gateway's queues and buffers grow too, and fall back later), or when a
//!   gateway had too few samples. The load generator's loop-lag criteria
//!   flag its latency figures but do not by themselves make a soak
//!   inconclusive: a client that reads a few milliseconds late cannot grow
//!   a gateway's heap steadily; one that falls behind for good is either
//!   busy (the CPU criterion) or starved by other work (the load average).
//! - `PASS` otherwise. Contention cannot make a flat heap look like a leak,
//!   so a PASS stands on a busy machine; the report says it was busy.

use serde::{Deserialize, Serialize};

use crate::metrics_scrape::GatewaySample;
use crate::stats::contention::Contention;
use crate::stats::downsample::Downsampled;
use crate::stats::leak::{
    self, LeakAnalysis, LeakRule, LeakVerdict, MIN_POINTS_PER_WINDOW, Signal,
};

/// The heap must be in at least this share of the RSS samples after the
/// warm-up to be the verdict's signal.
const HEAP_COVERAGE: f64 = 0.9;

/// One gateway's bounded memory series.
#[derive(Debug, Clone)]
pub struct MemorySeries {
    /// RSS.
    pub rss: Downsampled<(f64, f64)>,
    /// Live heap (allocated).
    pub heap: Downsampled<(f64, f64)>,
    /// Allocator-resident.
    pub heap_resident: Downsampled<(f64, f64)>,
    /// Allocator-retained.
    pub heap_retained: Downsampled<(f64, f64)>,
}

impl MemorySeries {
    /// Empty series of at most `cap` points each.
    pub fn new(cap: usize) -> Self {
        Self {
            rss: Downsampled::new(cap),
            heap: Downsampled::new(cap),
            heap_resident: Downsampled::new(cap),
            heap_retained: Downsampled::new(cap),
        }
    }

    /// Adds the metrics present in one scrape taken at `t_s`.
    pub fn push(&mut self, t_s: f64, s: &GatewaySample) {
        let put = |d: &mut Downsampled<(f64, f64)>, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                d.push((t_s, v));
            }
        };
        put(&mut self.rss, s.rss_bytes);
        put(&mut self.heap, s.heap_allocated_bytes);
        put(&mut self.heap_resident, s.heap_resident_bytes);
        put(&mut self.heap_retained, s.heap_retained_bytes);
    }
}

/// One gateway's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayVerdict {
    /// The rule on the verdict's signal.
    pub leak: LeakAnalysis,
    /// The rule on RSS, when the verdict's signal is the heap.
    pub rss_leak: Option<LeakAnalysis>,
    /// Set when RSS grows while the heap does not.
    pub retention: Option<String>,
}

/// Judges one gateway: the live heap when it was exported through the run,
/// RSS otherwise (and the reason says so).
pub fn analyse_gateway(heap: &[(f64, f64)], rss: &[(f64, f64)], rule: &LeakRule) -> GatewayVerdict {
    let after = |s: &[(f64, f64)]| s.iter().filter(|p| p.0 >= rule.warmup_s).count();
    let (h, r) = (after(heap), after(rss));
    let heap_ok =
        h >= rule.windows.max(1) * MIN_POINTS_PER_WINDOW && h as f64 >= HEAP_COVERAGE * r as f64;
    if heap_ok {
        let leak = leak::analyse(heap, Signal::Heap, rule);
        let rss_leak = (!rss.is_empty()).then(|| leak::analyse(rss, Signal::Rss, rule));
        let retention = rss_leak
            .as_ref()
            .and_then(|r| leak::retention_note(&leak, r));
        return GatewayVerdict {
            leak,
            rss_leak,
            retention,
        };
    }
    let mut leak = leak::analyse(rss, Signal::Rss, rule);
    leak.reason = format!(
        "RSS only ({}): {}",
        if h == 0 {
            "the gateway does not export herald_process_heap_allocated_bytes".to_owned()
        } else {
            format!("the live heap is in only {h} of {r} samples")
        },
        leak.reason
    );
    GatewayVerdict {
        leak,
        rss_leak: None,
        retention: None,
    }
}

/// The run's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The verdict.
    pub verdict: LeakVerdict,
    /// Why.
    pub reason: String,
}

/// Decides the run over `gateways` (admin, judgement), given the machine's
/// load and whether the load generator used ≥ 90% of the cores. A LEAK on
/// a contended or saturated run becomes INCONCLUSIVE, in the gateway's
/// analysis too.
pub fn decide(
    gateways: &mut [(String, GatewayVerdict)],
    contention: &Contention,
    saturated: bool,
) -> Decision {
    if gateways.is_empty() {
        return Decision {
            verdict: LeakVerdict::Inconclusive,
            reason: "no gateway was sampled".into(),
        };
    }
    let mut excuse = Vec::new();
    if contention.contended {
        excuse.push(format!(
            "the machine was contended ({})",
            contention.describe()
        ));
    }
    if saturated {
        excuse.push("the load generator used most of the cores (see its figures)".into());
    }
    let leaking: Vec<String> = gateways
        .iter()
        .filter(|(_, g)| g.leak.verdict == LeakVerdict::Leak)
        .map(|(a, g)| format!("{a}: {}", g.leak.reason))
        .collect();
    if !leaking.is_empty() {
        if excuse.is_empty() {
            return Decision {
                verdict: LeakVerdict::Leak,
                reason: leaking.join("; "),
            };
        }
        let why = format!(
            "growth like a leak, but {}: not judged",
            excuse.join(", and ")
        );
        for (_, g) in gateways.iter_mut() {
            if g.leak.verdict == LeakVerdict::Leak {
                g.leak.verdict = LeakVerdict::Inconclusive;
                g.leak.reason = format!("{} — {why}", g.leak.reason);
            }
        }
        return Decision {
            verdict: LeakVerdict::Inconclusive,
            reason: format!("{} — {why}", leaking.join("; ")),
        };
    }
    let unknown: Vec<String> = gateways
        .iter()
        .filter(|(_, g)| g.leak.verdict == LeakVerdict::Inconclusive)
        .map(|(a, g)| format!("{a}: {}", g.leak.reason))
        .collect();
    if !unknown.is_empty() {
        return Decision {
            verdict: LeakVerdict::Inconclusive,
            reason: unknown.join("; "),
        };
    }
    let mut reason = "no gateway's memory grows steadily above the threshold".to_owned();
    if !excuse.is_empty() {
        reason.push_str(&format!(" (note: {})", excuse.join(", and ")));
    }
    Decision {
        verdict: LeakVerdict::Pass,
        reason,
    }
}

/// The rule in words, with the run's thresholds.
pub fn rule_text(rule: &LeakRule, contention: &Contention) -> String {
    format!(
        "LEAK when the Theil–Sen slope of the live heap (RSS when the heap is not exported) after the {:.0}s warm-up, \
         and its slope in each of the last {} windows, are all above {} MB/h; \
         a LEAK is reported INCONCLUSIVE when the 1-minute load average was above {:.1} ({} cores) in at least {:.0}% of the samples \
         taken after the warm-up and at least 60 s into the run, or the load generator used at least 90% of the cores",
        rule.warmup_s,
        rule.windows,
        rule.threshold_mb_per_hour,
        contention.load_limit,
        contention.cores,
        100.0 * contention.max_fraction
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::contention::ContentionRule;
    use crate::stats::leak::MB;

    const RULE: LeakRule = LeakRule {
        threshold_mb_per_hour: 0.5,
        warmup_s: 600.0,
        windows: 3,
    };

    fn series(f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..360)
            .map(|i| f64::from(i) * 10.0)
            .map(|t| (t, f(t) * MB))
            .collect()
    }

    fn quiet() -> Contention {
        Contention::new(
            2,
            ContentionRule {
                max_load_per_core: 1.0,
                max_fraction: 0.25,
            },
        )
    }

    fn busy() -> Contention {
        let mut c = quiet();
        for _ in 0..10 {
            c.observe(6.0);
        }
        c
    }

    #[test]
    fn the_heap_is_the_signal_when_exported_and_rss_retention_is_named() {
        let g = analyse_gateway(&series(|_| 11.4), &series(|t| 26.0 + t / 3600.0), &RULE);
        assert_eq!(g.leak.signal, Signal::Heap);
        assert_eq!(g.leak.verdict, LeakVerdict::Pass);
        assert_eq!(g.rss_leak.as_ref().unwrap().verdict, LeakVerdict::Leak);
        assert!(
            g.retention
                .unwrap()
                .contains("allocator retention, not a leak")
        );
    }

    #[test]
    fn without_the_heap_metric_rss_is_judged_and_the_reason_says_so() {
        let g = analyse_gateway(&[], &series(|t| 26.0 + t / 3600.0), &RULE);
        assert_eq!(g.leak.signal, Signal::Rss);
        assert_eq!(g.leak.verdict, LeakVerdict::Leak);
        assert!(
            g.leak
                .reason
                .starts_with("RSS only (the gateway does not export"),
            "{}",
            g.leak.reason
        );
        assert!(g.rss_leak.is_none() && g.retention.is_none());
        // A heap seen in a few samples only does not count either.
        let partial: Vec<_> = series(|_| 11.4).into_iter().step_by(4).collect();
        let g = analyse_gateway(&partial, &series(|_| 26.0), &RULE);
        assert_eq!(g.leak.signal, Signal::Rss);
        assert!(
            g.leak.reason.contains("only 75 of 300"),
            "{}",
            g.leak.reason
        );
    }

    #[test]
    fn a_leak_on_a_quiet_machine_is_a_leak_and_on_a_busy_one_inconclusive() {
        let leaky = || analyse_gateway(&series(|t| 11.4 + 2.0 * t / 3600.0), &[], &RULE);
        let mut gws = vec![("a".to_owned(), leaky())];
        assert_eq!(decide(&mut gws, &quiet(), false).verdict, LeakVerdict::Leak);

        let mut gws = vec![("a".to_owned(), leaky())];
        let d = decide(&mut gws, &busy(), false);
        assert_eq!(d.verdict, LeakVerdict::Inconclusive);
        assert!(d.reason.contains("contended"), "{}", d.reason);
        assert_eq!(
            gws[0].1.leak.verdict,
            LeakVerdict::Inconclusive,
            "the gateway's verdict follows"
        );

        let mut gws = vec![("a".to_owned(), leaky())];
        let d = decide(&mut gws, &quiet(), true);
        assert_eq!(d.verdict, LeakVerdict::Inconclusive);
        assert!(
            d.reason.contains("load generator used most of the cores"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn a_pass_stands_on_a_busy_machine_and_says_so() {
        let flat = || analyse_gateway(&series(|_| 11.4), &series(|_| 26.0), &RULE);
        let mut gws = vec![("a".to_owned(), flat()), ("b".to_owned(), flat())];
        let d = decide(&mut gws, &busy(), false);
        assert_eq!(d.verdict, LeakVerdict::Pass);
        assert!(d.reason.contains("contended"), "{}", d.reason);
        let mut gws = vec![("a".to_owned(), flat())];
        assert_eq!(
            decide(&mut gws, &quiet(), false).reason,
            "no gateway's memory grows steadily above the threshold"
        );
    }

    #[test]
    fn one_leaking_gateway_of_two_is_a_leak_and_too_few_samples_inconclusive() {
        let mut gws = vec![
            (
                "a".to_owned(),
                analyse_gateway(&series(|_| 11.4), &[], &RULE),
            ),
            (
                "b".to_owned(),
                analyse_gateway(&series(|t| 11.4 + t / 3600.0), &[], &RULE),
            ),
        ];
        let d = decide(&mut gws, &quiet(), false);
        assert_eq!(d.verdict, LeakVerdict::Leak);
        assert!(d.reason.starts_with("b: "), "{}", d.reason);
        let short: Vec<_> = series(|_| 11.4).into_iter().take(62).collect();
        let mut gws = vec![("a".to_owned(), analyse_gateway(&short, &short, &RULE))];
        assert_eq!(
            decide(&mut gws, &quiet(), false).verdict,
            LeakVerdict::Inconclusive
        );
        assert_eq!(
            decide(&mut [], &quiet(), false).verdict,
            LeakVerdict::Inconclusive
        );
    }

    #[test]
    fn memory_series_keep_what_each_scrape_has() {
        let mut m = MemorySeries::new(512);
        m.push(
            0.0,
            &GatewaySample {
                rss_bytes: Some(1.0),
                ..GatewaySample::default()
            },
        );
        m.push(
            10.0,
            &GatewaySample {
                rss_bytes: Some(2.0),
                heap_allocated_bytes: Some(3.0),
                heap_retained_bytes: Some(f64::NAN),
                ..GatewaySample::default()
            },
        );
        assert_eq!(m.rss.points(), vec![(0.0, 1.0), (10.0, 2.0)]);
        assert_eq!(m.heap.points(), vec![(10.0, 3.0)]);
        assert!(m.heap_retained.points().is_empty() && m.heap_resident.points().is_empty());
    }
}
