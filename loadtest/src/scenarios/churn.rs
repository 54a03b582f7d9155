//! `churn`: fan-out while clients disconnect and reconnect at a fixed rate,
//! resubscribing with `since`; the recovered streams must be complete.

use super::{Load, ScenarioError, load_report, params};
use crate::cli::ChurnArgs;
use crate::report::RunReport;

/// Runs the scenario.
///
/// # Errors
/// [`ScenarioError`] for bad flags or dead workers.
pub async fn run(a: &ChurnArgs) -> Result<RunReport, ScenarioError> {
    let mut load = Load::start(&a.common, &a.load, a.churn_rate).await?;
    load.coord.run_for(a.common.duration).await?;
    let f = load.finish().await?;
    let mut p = params(&a.common, Some(&a.load));
    p.push(("churn_rate".into(), a.churn_rate.to_string()));
    let mut r = load_report("churn", p, &a.common, &f);
    let c = &r.counters;
    let reconnects = c.client_closes as f64;
    r.notes.push((
        "reconnects/s".into(),
        format!("{:.1}", reconnects / r.duration_s.max(1e-9)),
    ));
    if c.recovered == 0 && c.client_closes > 0 {
        r.failures.push("no resubscribe was recovered".into());
        r.exit_code = crate::report::EXIT_CHECK_FAILED;
    }
    Ok(r)
}
