//! The soak's leak rule, on one gateway's memory series.
//!
//! # Rule
//! 1. **Signal.** The live heap (`herald_process_heap_allocated_bytes`,
//!    what jemalloc counts as allocated) when the gateway exports it; RSS
//!    otherwise, and the verdict says so. RSS also counts memory the
//!    allocator keeps after it was freed and the capacity of maps after a
//!    peak, which rise in steps and do not come back: growth, but not a leak.
//! 2. **Warm-up.** Samples before the warm-up cut are dropped (caches,
//!    histories and arenas fill at the start).
//! 3. **Slope.** The Theil–Sen slope ([`crate::stats::theil_sen`]) of MB
//!    over hours through the samples left: the median of all pairwise
//!    slopes, so rare steps count little and early ones not at all.
//! 4. **Persistence.** The samples left are cut into `windows` (3) windows
//!    of equal duration, and each window gets its own Theil–Sen slope.
//! 5. **Verdict.** `LEAK` when the whole slope *and every window's slope*
//!    are above the threshold (default 0.5 MB/h): the growth is steady and
//!    still going on at the end. `PASS` otherwise. `INCONCLUSIVE` with fewer
//!    than [`MIN_POINTS_PER_WINDOW`] samples in a window.
//!
//! A step (a map doubling at a new connection peak) lifts one window at most,
//! noise lifts each window only by chance, and a warm-up tail that flattens
//! out fails the last window; a leak lifts all three.
//!
//! Whether the machine was contended or the load generator saturated is
//! judged by the soak ([`crate::scenarios::soak`]), which turns a `LEAK`
//! into `INCONCLUSIVE` then.

use serde::{Deserialize, Serialize};

use super::theil_sen::{self, Fit};

/// The fewest samples a window needs for a verdict.
pub const MIN_POINTS_PER_WINDOW: usize = 3;
/// Bytes in the MB of the report (decimal, like the gateway's metrics docs).
pub const MB: f64 = 1_000_000.0;

/// What the rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `herald_process_heap_allocated_bytes`: live allocations.
    Heap,
    /// `process_resident_memory_bytes`: resident memory.
    Rss,
}

impl Signal {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Heap => "live heap",
            Self::Rss => "RSS",
        }
    }
}

/// The rule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LeakRule {
    /// A slope above this many MB per hour is growth.
    pub threshold_mb_per_hour: f64,
    /// Samples before this many seconds are warm-up.
    pub warmup_s: f64,
    /// Windows the post-warm-up samples are cut into; all must grow.
    pub windows: usize,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeakVerdict {
    /// No steady growth above the threshold.
    Pass,
    /// Steady growth above the threshold, in every window.
    Leak,
    /// Too few samples, or a contended run (see the soak).
    Inconclusive,
}

impl LeakVerdict {
    /// `PASS`, `LEAK` or `INCONCLUSIVE`, as in the JSON.
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Leak => "LEAK",
            Self::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// One window's slope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowFit {
    /// Where the window starts, seconds since the run started.
    pub t_start_s: f64,
    /// Where it ends.
    pub t_end_s: f64,
    /// Samples in it.
    pub n: usize,
    /// Its Theil–Sen slope, MB per hour (`None` when it cannot be fitted).
    pub slope_mb_per_hour: Option<f64>,
    /// Its line's value at hour 0 of the run, MB (for drawing it).
    #[serde(default)]
    pub intercept_mb: Option<f64>,
}

/// The rule applied to one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakAnalysis {
    /// What was measured.
    pub signal: Signal,
    /// The Theil–Sen fit over every post-warm-up sample, MB over hours
    /// (the intercept is MB at hour 0 of the run).
    pub fit: Option<Fit>,
    /// The windows' slopes, oldest first.
    #[serde(default)]
    pub windows: Vec<WindowFit>,
    /// Samples dropped as warm-up.
    pub discarded: usize,
    /// The verdict.
    pub verdict: LeakVerdict,
    /// Why, in words.
    #[serde(default)]
    pub reason: String,
}

/// Applies the rule to `samples` of `(seconds since start, bytes)`.
pub fn analyse(samples: &[(f64, f64)], signal: Signal, rule: &LeakRule) -> LeakAnalysis {
    let kept: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t >= rule.warmup_s)
        .map(|&(t, b)| (t / 3600.0, b / MB))
        .collect();
    let windows = rule.windows.max(1);
    let mut a = LeakAnalysis {
        signal,
        fit: None,
        windows: Vec::new(),
        discarded: samples.len() - kept.len(),
        verdict: LeakVerdict::Inconclusive,
        reason: String::new(),
    };
    let need = windows * MIN_POINTS_PER_WINDOW;
    if kept.len() < need {
        a.reason = format!(
            "{} samples after the warm-up; the rule needs {need}",
            kept.len()
        );
        return a;
    }
    a.fit = theil_sen::fit(&kept);
    let (h0, h1) = (kept[0].0, kept[kept.len() - 1].0);
    let width = (h1 - h0) / windows as f64;
    for w in 0..windows {
        let lo = h0 + width * w as f64;
        let hi = if w + 1 == windows { h1 } else { lo + width };
        let pts: Vec<(f64, f64)> = kept
            .iter()
            .copied()
            .filter(|(h, _)| *h >= lo && (*h < hi || (w + 1 == windows && *h <= hi)))
            .collect();
        let wf = if pts.len() >= MIN_POINTS_PER_WINDOW {
            theil_sen::fit(&pts)
        } else {
            None
        };
        a.windows.push(WindowFit {
            t_start_s: lo * 3600.0,
            t_end_s: hi * 3600.0,
            n: pts.len(),
            slope_mb_per_hour: wf.map(|f| f.slope),
            intercept_mb: wf.map(|f| f.intercept),
        });
    }
    let thr = rule.threshold_mb_per_hour;
    let slopes: Vec<Option<f64>> = a.windows.iter().map(|w| w.slope_mb_per_hour).collect();
    let listed = slopes
        .iter()
        .map(|s| s.map_or("-".to_owned(), |s| format!("{s:.3}")))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(fit) = a.fit else {
        a.reason = "the samples cannot be fitted".into();
        return a;
    };
    if slopes.iter().any(Option::is_none) {
        a.reason = format!(
            "a window has fewer than {MIN_POINTS_PER_WINDOW} samples (windows: {listed} MB/h)"
        );
        return a;
    }
    let label = signal.label();
    let all_grow = slopes.iter().flatten().all(|s| *s > thr);
    if fit.slope > thr && all_grow {
        a.verdict = LeakVerdict::Leak;
        a.reason = format!(
            "{label} grows {:.3} MB/h after the warm-up, and in each of the {windows} windows ({listed} MB/h), all above {thr} MB/h",
            fit.slope
        );
    } else {
        a.verdict = LeakVerdict::Pass;
        a.reason = if fit.slope <= thr {
            format!(
                "{label} slope {:.3} MB/h is not above {thr} MB/h (windows: {listed} MB/h)",
                fit.slope
            )
        } else {
            format!(
                "{label} slope {:.3} MB/h, but the growth does not persist: windows {listed} MB/h, not all above {thr} MB/h",
                fit.slope
            )
        };
    }
    a
}

impl LeakAnalysis {
    /// The windows' slopes, `a/b/c` in MB/h (`-` for a window without one).
    pub fn window_slopes(&self) -> String {
        self.windows
            .iter()
            .map(|w| {
                w.slope_mb_per_hour
                    .map_or("-".to_owned(), |s| format!("{s:.3}"))
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// When RSS grows by the rule while the live heap does not: the words for
/// it, else `None`.
pub fn retention_note(heap: &LeakAnalysis, rss: &LeakAnalysis) -> Option<String> {
    let rss_fit = rss.fit?;
    let heap_fit = heap.fit?;
    let rss_grows = rss.verdict == LeakVerdict::Leak;
    (heap.signal == Signal::Heap && rss_grows && heap.verdict == LeakVerdict::Pass).then(|| {
        format!(
            "RSS grows {:.3} MB/h, in every window ({} MB/h), while the live heap does not ({:.3} MB/h; windows {} MB/h): allocator retention, not a leak",
            rss_fit.slope,
            rss.window_slopes(),
            heap_fit.slope,
            heap.window_slopes()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const RULE: LeakRule = LeakRule {
        threshold_mb_per_hour: 0.5,
        warmup_s: 0.0,
        windows: 3,
    };

    /// One sample every `dt` seconds for `hours`: `f(t_s)` MB.
    fn series(hours: f64, dt: f64, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        let n = (hours * 3600.0 / dt) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 * dt;
                (t, f(t) * MB)
            })
            .collect()
    }

    fn verdict(s: &[(f64, f64)], rule: &LeakRule) -> LeakVerdict {
        analyse(s, Signal::Heap, rule).verdict
    }

    #[test]
    fn a_flat_series_passes() {
        let a = analyse(&series(1.0, 10.0, |_| 11.4), Signal::Heap, &RULE);
        assert_eq!(a.verdict, LeakVerdict::Pass, "{a:?}");
        assert_eq!(a.fit.unwrap().slope, 0.0);
        assert_eq!(a.windows.len(), 3);
        assert!(a.windows.iter().all(|w| w.n >= 119), "{:?}", a.windows);
    }

    #[test]
    fn linear_growth_above_the_threshold_is_a_leak_with_its_slope() {
        let a = analyse(
            &series(1.0, 10.0, |t| 11.4 + t / 3600.0),
            Signal::Heap,
            &RULE,
        );
        assert_eq!(a.verdict, LeakVerdict::Leak, "{a:?}");
        let f = a.fit.unwrap();
        assert!((f.slope - 1.0).abs() < 1e-9, "{f:?}");
        for w in &a.windows {
            assert!((w.slope_mb_per_hour.unwrap() - 1.0).abs() < 1e-9, "{w:?}");
        }
        // Below the threshold it passes, and the threshold is the run's.
        assert_eq!(
            verdict(&series(1.0, 10.0, |t| 11.4 + 0.4 * t / 3600.0), &RULE),
            LeakVerdict::Pass
        );
        let strict = LeakRule {
            threshold_mb_per_hour: 0.3,
            ..RULE
        };
        assert_eq!(
            verdict(&series(1.0, 10.0, |t| 11.4 + 0.4 * t / 3600.0), &strict),
            LeakVerdict::Leak
        );
    }

    #[test]
    fn steps_that_stop_pass_where_least_squares_called_a_leak() {
        // Docs/benchmarks.md's run 2: +0.2 MB in three rare steps over a
        // 21-minute analysis window; least squares gave 0.6–0.7 MB/h.
        let stepped = |t: f64| {
            25.8 + if t > 700.0 { 0.07 } else { 0.0 }
                + if t > 1100.0 { 0.08 } else { 0.0 }
                + if t > 1500.0 { 0.06 } else { 0.0 }
        };
        let s = series(0.5, 10.0, stepped);
        let rule = LeakRule {
            warmup_s: 540.0,
            ..RULE
        };
        let a = analyse(&s, Signal::Heap, &rule);
        assert_eq!(a.verdict, LeakVerdict::Pass, "{a:?}");
        assert!(
            a.reason.contains("not above") || a.reason.contains("does not persist"),
            "{}",
            a.reason
        );
        // The old rule's input: the least-squares slope is above 0.5 MB/h.
        let kept: Vec<_> = s
            .iter()
            .filter(|p| p.0 >= 540.0)
            .map(|p| (p.0 / 3600.0, p.1 / MB))
            .collect();
        let n = kept.len() as f64;
        let mx = kept.iter().map(|p| p.0).sum::<f64>() / n;
        let my = kept.iter().map(|p| p.1).sum::<f64>() / n;
        let ols = kept.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
            / kept.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
        assert!(ols > 0.5, "least squares {ols}");
    }

    #[test]
    fn a_warmup_climb_that_flattens_fails_the_last_window() {
        // Climbs 2 MB/h for the first 40 minutes after warm-up, then flat.
        let s = series(1.0, 10.0, |t| 20.0 + 2.0 * t.min(2400.0) / 3600.0);
        let a = analyse(&s, Signal::Heap, &RULE);
        assert!(a.fit.unwrap().slope > 0.5, "{a:?}");
        assert_eq!(a.verdict, LeakVerdict::Pass, "{a:?}");
        assert!(a.reason.contains("does not persist"), "{}", a.reason);
    }

    #[test]
    fn noise_passes_and_noise_over_a_leak_is_still_a_leak() {
        let mut passes = 0;
        let mut leaks = 0;
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut noise = move || rng.random_range(-0.3..0.3);
            let flat: Vec<_> = series(0.5, 10.0, |_| 11.4)
                .into_iter()
                .map(|(t, b)| (t, b + noise() * MB))
                .collect();
            let leaky: Vec<_> = series(0.5, 10.0, |t| 11.4 + 2.0 * t / 3600.0)
                .into_iter()
                .map(|(t, b)| (t, b + noise() * MB * 0.1))
                .collect();
            let rule = LeakRule {
                warmup_s: 540.0,
                ..RULE
            };
            passes += usize::from(verdict(&flat, &rule) == LeakVerdict::Pass);
            leaks += usize::from(verdict(&leaky, &rule) == LeakVerdict::Leak);
        }
        assert_eq!(passes, 50);
        assert_eq!(leaks, 50);
    }

    #[test]
    fn too_few_samples_are_inconclusive_and_warmup_is_dropped() {
        let s = series(1.0, 600.0, |t| 11.0 + 5.0 * t / 3600.0);
        let a = analyse(
            &s,
            Signal::Rss,
            &LeakRule {
                warmup_s: 1800.0,
                ..RULE
            },
        );
        assert_eq!(a.verdict, LeakVerdict::Inconclusive, "{a:?}");
        assert_eq!(a.discarded, 3);
        assert!(a.reason.contains("the rule needs 9"), "{}", a.reason);
        assert_eq!(verdict(&[], &RULE), LeakVerdict::Inconclusive);
    }

    #[test]
    fn rss_that_grows_while_the_heap_does_not_is_named_retention() {
        let heap = analyse(&series(1.0, 10.0, |_| 11.4), Signal::Heap, &RULE);
        let rss = analyse(
            &series(1.0, 10.0, |t| 26.0 + t / 3600.0),
            Signal::Rss,
            &RULE,
        );
        let note = retention_note(&heap, &rss).unwrap();
        assert!(note.contains("allocator retention, not a leak"), "{note}");
        assert!(
            note.contains("RSS grows 1.000 MB/h, in every window (1.000/1.000/1.000 MB/h)"),
            "{note}"
        );
        assert!(note.contains("live heap does not (0.000 MB/h"), "{note}");
        let leaking_heap = analyse(
            &series(1.0, 10.0, |t| 11.4 + t / 3600.0),
            Signal::Heap,
            &RULE,
        );
        assert!(retention_note(&leaking_heap, &rss).is_none());
        let flat_rss = analyse(&series(1.0, 10.0, |_| 26.0), Signal::Rss, &RULE);
        assert!(retention_note(&heap, &flat_rss).is_none());
    }
}
