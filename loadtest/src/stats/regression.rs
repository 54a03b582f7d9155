//! Leak detection: an ordinary least-squares line through RSS samples, its
//! 95% confidence interval, and the verdict.
//!
//! # Method
//! 1. **Warm-up.** Samples taken before the warm-up cut (default: the first
//!    30% of the run) are discarded. Allocator arenas, caches and buffers
//!    grow early and then plateau; a leak is a *sustained* slope after that.
//! 2. **Fit.** `rss_mb = a + b * hours` by ordinary least squares on the
//!    remaining samples. `b` is the slope in MB/hour.
//! 3. **Interval.** The slope's standard error is
//!    `sqrt(SSR / (n - 2) / Sxx)`; the 95% interval is `b ± t(0.975, n-2) * se`
//!    with Student's t quantile ([`t_quantile_975`]).
//! 4. **Verdict.** `LEAK` when the interval's lower bound is above the
//!    threshold: with 97.5% confidence the growth is faster than the
//!    threshold, so noise that lifts only the point estimate over it (a short
//!    run on a busy machine) does not make a leak. `PASS` otherwise. With
//!    fewer than [`MIN_SAMPLES`] samples after warm-up the verdict is
//!    `INCONCLUSIVE`.

use serde::{Deserialize, Serialize};

/// The fewest post-warm-up samples a verdict needs.
pub const MIN_SAMPLES: usize = 5;

/// An ordinary least-squares fit with the slope's 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Samples used.
    pub n: usize,
    /// The slope (y units per x unit).
    pub slope: f64,
    /// The intercept.
    pub intercept: f64,
    /// The slope's standard error.
    pub slope_se: f64,
    /// Lower bound of the slope's 95% confidence interval.
    pub ci_low: f64,
    /// Upper bound of the slope's 95% confidence interval.
    pub ci_high: f64,
    /// The coefficient of determination.
    pub r2: f64,
}

/// Fits `y = a + b x`. `None` with fewer than three points or when every
/// `x` is the same.
pub fn ols(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ssr: f64 = points
        .iter()
        .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
        .sum();
    let df = n - 2;
    let slope_se = (ssr / df as f64 / sxx).sqrt();
    let t = t_quantile_975(df);
    let r2 = if syy > 0.0 { 1.0 - ssr / syy } else { 1.0 };
    Some(Fit {
        n,
        slope,
        intercept,
        slope_se,
        ci_low: slope - t * slope_se,
        ci_high: slope + t * slope_se,
        r2,
    })
}

/// Student's t 0.975 quantile (two-sided 95%) for `df` degrees of freedom.
///
/// Exact table values for 1 to 30; beyond, the Cornish-Fisher expansion
/// around the normal quantile (error below 1e-4 for df > 30).
pub fn t_quantile_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let v = df as f64;
            let z3 = z.powi(3);
            let z5 = z.powi(5);
            let z7 = z.powi(7);
            let z9 = z.powi(9);
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v.powi(3))
                + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z)
                    / (92160.0 * v.powi(4))
        }
    }
}

/// The soak verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeakVerdict {
    /// No sustained growth above the threshold.
    Pass,
    /// Sustained growth above the threshold.
    Leak,
    /// Too few samples after warm-up to tell.
    Inconclusive,
}

/// The analysis of one gateway's RSS series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakAnalysis {
    /// The fit over post-warm-up samples, in MB per hour.
    pub fit: Option<Fit>,
    /// Samples discarded as warm-up.
    pub discarded: usize,
    /// The verdict.
    pub verdict: LeakVerdict,
}

/// Analyses `samples` of `(seconds since start, rss bytes)`: drops those
/// before `warmup_s`, fits MB over hours, and applies the verdict rule in
/// the module docs.
pub fn analyse_rss(
    samples: &[(f64, f64)],
    warmup_s: f64,
    threshold_mb_per_hour: f64,
) -> LeakAnalysis {
    let kept: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t >= warmup_s)
        .map(|(t, rss)| (t / 3600.0, rss / 1_000_000.0))
        .collect();
    let discarded = samples.len() - kept.len();
    let fit = if kept.len() >= MIN_SAMPLES {
        ols(&kept)
    } else {
        None
    };
    let verdict = match fit {
        None => LeakVerdict::Inconclusive,
        Some(f) if f.ci_low > threshold_mb_per_hour => LeakVerdict::Leak,
        Some(_) => LeakVerdict::Pass,
    };
    LeakAnalysis {
        fit,
        discarded,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn t_quantiles_match_published_values() {
        assert!((t_quantile_975(1) - 12.706).abs() < 1e-3);
        assert!((t_quantile_975(10) - 2.228).abs() < 1e-3);
        assert!((t_quantile_975(40) - 2.021).abs() < 1e-3);
        assert!((t_quantile_975(120) - 1.980).abs() < 1e-3);
        assert!((t_quantile_975(100_000) - 1.960).abs() < 1e-3);
        // Monotone decreasing across the table/expansion seam.
        assert!(t_quantile_975(30) > t_quantile_975(31));
    }

    #[test]
    fn ols_recovers_an_exact_line() {
        let pts: Vec<_> = (0..10).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        let f = ols(&pts).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-9 && (f.intercept - 3.0).abs() < 1e-9);
        assert!(f.slope_se < 1e-9 && (f.r2 - 1.0).abs() < 1e-9);
        assert!(ols(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]).is_none());
        assert!(ols(&[(1.0, 1.0)]).is_none());
    }

    /// One sample a minute for `hours`, RSS `base + slope * h` MB plus noise.
    fn series(
        hours: f64,
        base_mb: f64,
        slope_mb_h: f64,
        noise_mb: f64,
        seed: u64,
    ) -> Vec<(f64, f64)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = (hours * 60.0) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 * 60.0;
                let mb = base_mb + slope_mb_h * t / 3600.0 + rng.random_range(-noise_mb..noise_mb);
                (t, mb * 1_000_000.0)
            })
            .collect()
    }

    #[test]
    fn flat_noisy_rss_passes() {
        for seed in 0..20 {
            let a = analyse_rss(&series(4.0, 300.0, 0.0, 5.0, seed), 0.8 * 3600.0, 0.5);
            assert_eq!(a.verdict, LeakVerdict::Pass, "seed {seed}: {a:?}");
        }
    }

    #[test]
    fn linear_growth_is_a_leak_with_the_right_slope() {
        let a = analyse_rss(&series(4.0, 300.0, 10.0, 2.0, 7), 0.8 * 3600.0, 0.5);
        assert_eq!(a.verdict, LeakVerdict::Leak);
        let f = a.fit.unwrap();
        assert!((f.slope - 10.0).abs() < 0.5, "{f:?}");
        assert!(f.ci_low < 10.0 && f.ci_high > 10.0, "{f:?}");
        assert_eq!(a.discarded, 48);
    }

    #[test]
    fn warmup_growth_then_plateau_passes() {
        // Fast growth during the first 30 minutes, then flat.
        let pts: Vec<_> = series(3.0, 300.0, 0.0, 1.0, 3)
            .into_iter()
            .map(|(t, rss)| (t, rss + (t.min(1800.0) / 1800.0) * 200e6))
            .collect();
        assert_eq!(analyse_rss(&pts, 0.0, 0.5).verdict, LeakVerdict::Leak);
        assert_eq!(
            analyse_rss(&pts, 0.2 * 3.0 * 3600.0, 0.5).verdict,
            LeakVerdict::Pass
        );
    }

    #[test]
    fn noise_that_lifts_only_the_point_estimate_passes() {
        // 30 samples over 15 s, flat plus +-3 MB noise: the slope estimate
        // can be thousands of MB/h, but its interval reaches far below.
        let mut passes = 0;
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let pts: Vec<_> = (0..30)
                .map(|i| {
                    let t = f64::from(i) * 0.5;
                    (t, (300.0 + rng.random_range(-3.0..3.0)) * 1e6)
                })
                .collect();
            let a = analyse_rss(&pts, 0.0, 1000.0);
            if a.verdict == LeakVerdict::Pass {
                passes += 1;
            }
        }
        assert_eq!(passes, 50);
        // The same window with a 64 KiB x 50/s leak is unmistakable.
        let pts: Vec<_> = (0..30)
            .map(|i| {
                let t = f64::from(i) * 0.5;
                (t, 300e6 + t * 3.3e6 + if i % 2 == 0 { 2e6 } else { -2e6 })
            })
            .collect();
        assert_eq!(analyse_rss(&pts, 0.0, 1000.0).verdict, LeakVerdict::Leak);
    }

    #[test]
    fn small_growth_below_threshold_passes_and_few_samples_are_inconclusive() {
        let a = analyse_rss(&series(4.0, 300.0, 0.2, 0.01, 1), 0.0, 0.5);
        assert_eq!(a.verdict, LeakVerdict::Pass, "{a:?}");
        assert!(a.fit.unwrap().ci_low > 0.0);
        assert_eq!(
            analyse_rss(&series(0.05, 300.0, 50.0, 0.01, 1), 0.0, 0.5).verdict,
            LeakVerdict::Inconclusive
        );
    }
}
