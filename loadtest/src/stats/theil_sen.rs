//! The Theil–Sen line: the median of the slopes between every pair of
//! points, with Sen's rank-based 95% interval.
//!
//! Unlike least squares, one step, one outlier or a burst of noise moves the
//! median of the pairwise slopes very little: up to about 29% of the points
//! can be arbitrary before the estimate breaks down. That is what a leak
//! detector needs on memory series that move in rare steps.
//!
//! # Interval
//! With `N` pairwise slopes sorted ascending and
//! `C = z(0.975) * sqrt(n (n - 1) (2n + 5) / 18)` (the spread of Kendall's
//! S under no trend, ties ignored), the interval runs from the
//! `round((N - C) / 2)`-th to the `round((N + C) / 2) + 1`-th slope (Sen,
//! 1968; Gilbert, 1987, §16.5), clamped to the smallest and largest.
//!
//! Cost: `n (n - 1) / 2` slopes are sorted, so callers keep `n` bounded
//! (the soak's series hold at most [`crate::stats::downsample`]'s cap).

use serde::{Deserialize, Serialize};

/// The two-sided 95% normal quantile.
const Z_975: f64 = 1.959_963_984_540_054;

/// A Theil–Sen fit `y = intercept + slope * x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Points used.
    pub n: usize,
    /// The median pairwise slope (y units per x unit).
    pub slope: f64,
    /// The median of `y - slope * x`.
    pub intercept: f64,
    /// Lower bound of Sen's 95% interval for the slope.
    pub ci_low: f64,
    /// Upper bound of Sen's 95% interval for the slope.
    pub ci_high: f64,
}

/// The median of `v`, sorting it in place; `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Fits `points`. `None` with fewer than two points with distinct `x`, or
/// when a coordinate is not finite.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    if points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let n = points.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dx = b.0 - a.0;
            if dx != 0.0 {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    let slope = median(&mut slopes)?;
    // `median` sorted the slopes.
    let big_n = slopes.len() as f64;
    let nf = n as f64;
    let c = Z_975 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let last = slopes.len() - 1;
    let lo = (((big_n - c) / 2.0).round() - 1.0).max(0.0) as usize;
    let hi = (((big_n + c) / 2.0).round().max(0.0) as usize).min(last);
    let mut residuals: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut residuals)?;
    Some(Fit {
        n,
        slope,
        intercept,
        ci_low: slopes[lo.min(last)],
        ci_high: slopes[hi],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn an_exact_line_is_recovered_with_a_zero_width_interval() {
        let pts: Vec<_> = (0..20)
            .map(|i| (f64::from(i), 3.0 + 2.0 * f64::from(i)))
            .collect();
        let f = fit(&pts).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 3.0).abs() < 1e-12);
        assert!((f.ci_low - 2.0).abs() < 1e-12 && (f.ci_high - 2.0).abs() < 1e-12);
        assert_eq!(f.n, 20);
    }

    #[test]
    fn degenerate_input_has_no_fit() {
        assert!(fit(&[]).is_none());
        assert!(fit(&[(1.0, 1.0)]).is_none());
        assert!(fit(&[(1.0, 1.0), (1.0, 5.0), (1.0, 9.0)]).is_none());
        assert!(fit(&[(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0)]).is_none());
    }

    #[test]
    fn one_step_barely_moves_the_slope_where_least_squares_follows_it() {
        // Flat, then one 10-unit step three quarters of the way through.
        let pts: Vec<_> = (0..40)
            .map(|i| (f64::from(i), if i < 30 { 0.0 } else { 10.0 }))
            .collect();
        let f = fit(&pts).unwrap();
        assert_eq!(f.slope, 0.0, "{f:?}");
        // The least-squares slope of the same points is about 0.2.
        let n = pts.len() as f64;
        let (mx, my) = (19.5, pts.iter().map(|p| p.1).sum::<f64>() / n);
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        assert!(sxy / sxx > 0.2, "{}", sxy / sxx);
    }

    #[test]
    fn outliers_do_not_move_it_and_the_interval_covers_the_truth() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut covered = 0;
        for _ in 0..100 {
            let mut pts: Vec<_> = (0..60)
                .map(|i| {
                    let x = f64::from(i);
                    (x, 1.0 + 0.5 * x + rng.random_range(-2.0..2.0))
                })
                .collect();
            pts[10].1 += 500.0;
            pts[50].1 -= 500.0;
            let f = fit(&pts).unwrap();
            assert!((f.slope - 0.5).abs() < 0.1, "{f:?}");
            assert!(f.ci_low <= f.slope && f.slope <= f.ci_high);
            if f.ci_low <= 0.5 && 0.5 <= f.ci_high {
                covered += 1;
            }
        }
        // A 95% interval: allow for sampling, but not for a broken one.
        assert!(covered >= 85, "covered {covered} of 100");
    }
}
