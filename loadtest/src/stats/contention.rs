//! Was the machine contended while the soak measured? The 1-minute load
//! average (from `/proc/loadavg`) is compared with the cores, once per
//! memory sample after the warm-up.
//!
//! A sample is contended when the load average is above
//! `max_load_per_core × cores`; the run is contended when at least
//! `max_fraction` of its judged samples are. Only samples taken at least
//! [`LOADAVG_WINDOW_S`] into the run are judged: before that, a 1-minute
//! average mostly describes the minute before the run (a build that just
//! ended, another test), not the run. The counts are exact and take constant
//! memory, however long the run.

use serde::{Deserialize, Serialize};

/// Samples earlier than this many seconds into the run are not judged.
pub const LOADAVG_WINDOW_S: f64 = 60.0;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContentionRule {
    /// A sample is contended above `max_load_per_core × cores`.
    pub max_load_per_core: f64,
    /// The run is contended when at least this fraction of samples are.
    pub max_fraction: f64,
}

/// The counts so far, and the judgement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Contention {
    /// Cores the load average is compared with.
    pub cores: usize,
    /// The load average above which a sample is contended.
    pub load_limit: f64,
    /// The fraction of contended samples that makes the run contended.
    pub max_fraction: f64,
    /// Post-warm-up samples with a readable load average.
    pub samples: u64,
    /// Of those, the contended ones.
    pub contended_samples: u64,
    /// The highest load average seen after the warm-up.
    pub peak_load: f64,
    /// The mean load average after the warm-up.
    pub mean_load: f64,
    /// The verdict: enough contended samples.
    pub contended: bool,
}

impl Contention {
    /// No samples yet.
    pub fn new(cores: usize, rule: ContentionRule) -> Self {
        Self {
            cores,
            load_limit: rule.max_load_per_core * cores as f64,
            max_fraction: rule.max_fraction,
            ..Self::default()
        }
    }

    /// Counts one post-warm-up load-average reading.
    pub fn observe(&mut self, load: f64) {
        if !load.is_finite() {
            return;
        }
        self.mean_load = (self.mean_load * self.samples as f64 + load) / (self.samples + 1) as f64;
        self.samples += 1;
        self.peak_load = self.peak_load.max(load);
        if load > self.load_limit {
            self.contended_samples += 1;
        }
        self.contended = self.fraction() >= self.max_fraction;
    }

    /// The fraction of contended samples (0 with none).
    pub fn fraction(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.contended_samples as f64 / self.samples as f64
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        if self.samples == 0 {
            return format!(
                "not judged: no load-average sample after the warm-up and at least {LOADAVG_WINDOW_S:.0} s into the run"
            );
        }
        format!(
            "load average above {:.1} ({} cores) in {} of {} samples ({:.0}%, limit {:.0}%), mean {:.2}, peak {:.2}: {}",
            self.load_limit,
            self.cores,
            self.contended_samples,
            self.samples,
            100.0 * self.fraction(),
            100.0 * self.max_fraction,
            self.mean_load,
            self.peak_load,
            if self.contended {
                "contended"
            } else {
                "not contended"
            }
        )
    }
}

/// The 1-minute load average from the text of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Reads this machine's 1-minute load average.
pub fn read_loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .as_deref()
        .and_then(parse_loadavg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: ContentionRule = ContentionRule {
        max_load_per_core: 1.0,
        max_fraction: 0.25,
    };

    #[test]
    fn a_quarter_of_samples_above_the_cores_makes_a_contended_run() {
        let mut c = Contention::new(2, RULE);
        for l in [0.5, 1.0, 2.0, 1.9] {
            c.observe(l);
        }
        assert!(!c.contended, "2.0 is not above 2 cores: {c:?}");
        c.observe(3.5);
        assert_eq!((c.samples, c.contended_samples), (5, 1));
        assert!(!c.contended, "1 in 5 is under a quarter");
        c.observe(6.4);
        assert!(c.contended, "2 in 6: {c:?}");
        assert_eq!(c.peak_load, 6.4);
        assert!(c.describe().contains("2 of 6 samples"), "{}", c.describe());
        c.observe(f64::NAN);
        assert_eq!(c.samples, 6);
    }

    #[test]
    fn no_readings_are_not_contention() {
        let c = Contention::new(2, RULE);
        assert!(!c.contended);
        assert!(c.describe().contains("not judged"));
    }

    #[test]
    fn proc_loadavg_parses() {
        assert_eq!(parse_loadavg("6.43 3.12 1.28 11/201 12227\n"), Some(6.43));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("x y"), None);
    }
}
