//! `soak`: churn plus low-rate fan-out for a long time, sampling each
//! gateway's RSS; a regression over the post-warm-up samples gives the
//! leak verdict (method in [`crate::stats::regression`]).

use tokio::time::Instant;

use super::{Load, ScenarioError, load_report, params};
use crate::cli::SoakArgs;
use crate::report::{EXIT_LEAK, RunReport};
use crate::stats::regression::{LeakVerdict, analyse_rss};

/// Runs the scenario.
///
/// # Errors
/// [`ScenarioError`] for bad flags or dead workers.
pub async fn run(a: &SoakArgs) -> Result<RunReport, ScenarioError> {
    if a.sample_interval.is_zero() {
        return Err(ScenarioError::Config(
            "--sample-interval must be positive".into(),
        ));
    }
    let warmup = a.warmup.unwrap_or(a.common.duration.mul_f64(0.3));
    let mut load = Load::start(&a.common, &a.load, a.churn_rate).await?;
    let n = a.common.admins.len();
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n];
    let start = Instant::now();
    let end = start + a.common.duration;
    loop {
        let t = start.elapsed().as_secs_f64();
        for (i, s) in load.scrape().await.into_iter().enumerate() {
            if let Some(rss) = s.rss_bytes {
                samples[i].push((t, rss));
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
    ]);
    let mut r = load_report("soak", p, &a.common, &f);
    let mut leak = false;
    for (g, s) in r.gateways.iter_mut().zip(samples) {
        let analysis = analyse_rss(&s, warmup.as_secs_f64(), a.leak_threshold_mb_per_hour);
        leak |= analysis.verdict == LeakVerdict::Leak;
        if analysis.verdict == LeakVerdict::Inconclusive {
            r.notes.push((
                format!("{} leak verdict", g.admin),
                "INCONCLUSIVE: too few samples after warm-up".into(),
            ));
        }
        g.rss_samples = s;
        g.leak = Some(analysis);
    }
    r.notes.push((
        "leak rule".into(),
        format!(
            "LEAK if the slope's 95% CI lower bound > {} MB/h, after {warmup:?} warm-up",
            a.leak_threshold_mb_per_hour
        ),
    ));
    if leak {
        r.failures.push("RSS grows: LEAK".into());
        r.exit_code = EXIT_LEAK;
    }
    Ok(r)
}
