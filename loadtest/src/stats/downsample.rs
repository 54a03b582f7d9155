//! Series whose memory is bounded by construction, however long the run.
//!
//! A [`Downsampled`] keeps at most `cap` points. Each point stands for
//! `stride` consecutive raw samples, merged with [`Merge`]. When the points
//! reach `cap`, neighbours are merged in pairs (the series halves) and the
//! stride doubles; later samples then gather `stride` at a time before they
//! become a point. So a series always covers the whole run, evenly, at the
//! finest resolution that fits: a 30-minute soak sampled every 10 s keeps
//! every sample (180 < 512); a 2-hour one keeps 360 points of 20 s; a
//! 24-hour one 270 points of 320 s.

use serde::{Deserialize, Serialize};

/// How a raw sample folds into a point.
pub trait Merge {
    /// Folds `other` (standing for `other_weight` raw samples) into `self`
    /// (standing for `self_weight`).
    fn merge(&mut self, self_weight: u64, other: &Self, other_weight: u64);
}

/// `(seconds, value)`: the weighted mean of both.
impl Merge for (f64, f64) {
    fn merge(&mut self, self_weight: u64, other: &Self, other_weight: u64) {
        let (a, b) = (self_weight as f64, other_weight as f64);
        let total = a + b;
        if total > 0.0 {
            self.0 = (self.0 * a + other.0 * b) / total;
            self.1 = (self.1 * a + other.1 * b) / total;
        }
    }
}

/// A bounded series (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downsampled<T> {
    cap: usize,
    stride: u64,
    points: Vec<T>,
    /// The point being gathered, and how many raw samples it holds.
    pending: Option<(T, u64)>,
    raw: u64,
}

impl<T: Merge + Clone> Downsampled<T> {
    /// An empty series of at most `cap` points (at least 2, rounded up to even).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(2).next_multiple_of(2);
        Self {
            cap,
            stride: 1,
            points: Vec::with_capacity(cap),
            pending: None,
            raw: 0,
        }
    }

    /// Adds one raw sample.
    pub fn push(&mut self, x: T) {
        self.raw += 1;
        let (p, n) = match self.pending.take() {
            None => (x, 1),
            Some((mut p, n)) => {
                p.merge(n, &x, 1);
                (p, n + 1)
            }
        };
        if n < self.stride {
            self.pending = Some((p, n));
            return;
        }
        self.points.push(p);
        if self.points.len() >= self.cap {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let stride = self.stride;
        let old = std::mem::take(&mut self.points);
        self.points = Vec::with_capacity(self.cap);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.merge(stride, &b, stride);
            }
            self.points.push(a);
        }
        self.stride *= 2;
    }

    /// The points, oldest first, including the one still being gathered.
    pub fn points(&self) -> Vec<T> {
        let mut v = self.points.clone();
        if let Some((p, _)) = &self.pending {
            v.push(p.clone());
        }
        v
    }

    /// Raw samples each finished point stands for.
    pub fn stride(&self) -> u64 {
        self.stride
    }

    /// Raw samples pushed so far.
    pub fn raw_samples(&self) -> u64 {
        self.raw
    }

    /// The most points this series holds.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_are_kept_whole() {
        let mut s = Downsampled::new(512);
        for i in 0..180 {
            s.push((f64::from(i) * 10.0, f64::from(i)));
        }
        let p = s.points();
        assert_eq!(p.len(), 180);
        assert_eq!(p[179], (1790.0, 179.0));
        assert_eq!(s.stride(), 1);
    }

    #[test]
    fn a_two_hour_run_and_a_week_stay_within_the_cap_and_cover_the_run() {
        // 2 h at 500 ms, then a week at 1 s: far past any cap.
        for (n, dt) in [(14_400u32, 0.5), (604_800, 1.0)] {
            let mut s = Downsampled::new(512);
            let mut max_len = 0;
            for i in 0..n {
                s.push((f64::from(i) * dt, 2.0 * f64::from(i) * dt));
                max_len = max_len.max(s.points.len() + usize::from(s.pending.is_some()));
            }
            assert!(max_len <= 513, "{max_len}");
            assert!(s.points.capacity() <= 512, "{}", s.points.capacity());
            let p = s.points();
            assert!(p.len() >= 256, "{}", p.len());
            let end = f64::from(n - 1) * dt;
            assert!(
                p[0].0 < end * 0.01 && p[p.len() - 1].0 > end * 0.99,
                "{:?}",
                (p[0], p.last())
            );
            // Means of a line stay on the line.
            for q in &p {
                assert!((q.1 - 2.0 * q.0).abs() < 1e-6 * end.max(1.0), "{q:?}");
            }
            assert_eq!(s.raw_samples(), u64::from(n));
        }
    }

    #[test]
    fn merged_points_are_evenly_spaced_means() {
        let mut s = Downsampled::new(4);
        for i in 0..8 {
            s.push((f64::from(i), f64::from(i) * 10.0));
        }
        // 4 points of 1 → compacted to 2 of 2, then 2 more of 2 → 4 → 2 of 4.
        assert_eq!(s.points(), vec![(1.5, 15.0), (5.5, 55.0)]);
        assert_eq!(s.stride(), 4);
        s.push((8.0, 80.0));
        assert_eq!(
            s.points().last(),
            Some(&(8.0, 80.0)),
            "the pending point is shown"
        );
    }
}
