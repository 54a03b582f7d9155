//! The soak's section of a report: the rule and its thresholds, the
//! machine's load, and the verdict over every gateway.

use serde::{Deserialize, Serialize};

use crate::stats::contention::Contention;
use crate::stats::leak::{LeakRule, LeakVerdict, Signal};

/// Process exit code of an INCONCLUSIVE soak.
pub const EXIT_INCONCLUSIVE: u8 = 4;

/// The soak's verdict and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakReport {
    /// The verdict over all gateways.
    pub verdict: LeakVerdict,
    /// Why, in words.
    pub reason: String,
    /// The rule, in words.
    pub rule: String,
    /// The thresholds.
    pub thresholds: LeakRule,
    /// What the rule measured on every gateway: the live heap, or RSS
    /// when a gateway does not export it.
    pub signal: Signal,
    /// The machine's load while the soak measured.
    pub contention: Contention,
    /// Whether the load generator was saturated (see `loadgen`).
    pub loadgen_saturated: bool,
    /// Whether it used ≥ 90% of its cores: this, not loop lag alone, makes
    /// a LEAK inconclusive.
    #[serde(default)]
    pub loadgen_cpu_saturated: bool,
    /// 1-minute load average over time, `(seconds, load)` (bounded).
    pub loadavg: Vec<(f64, f64)>,
    /// Memory samples taken per gateway.
    pub samples: u64,
    /// Raw samples per point in the stored series (1 = every sample).
    pub stride: u64,
}
