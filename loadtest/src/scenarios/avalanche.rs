//! `avalanche`: drop every connection at once, reconnect all immediately
//! with recovery, and time the recovery.

use std::time::Duration;

use super::{Load, ScenarioError, load_report, params};
use crate::cli::AvalancheArgs;
use crate::report::{EXIT_CHECK_FAILED, RunReport};

/// Runs the scenario.
///
/// # Errors
/// [`ScenarioError`] for bad flags or dead workers.
pub async fn run(a: &AvalancheArgs) -> Result<RunReport, ScenarioError> {
    let mut load = Load::start(&a.common, &a.load, 0.0).await?;
    load.coord.run_for(a.before_drop).await?;
    let connected = load.coord.agg.totals().connected;
    load.drop_all().await?;
    let all = load
        .coord
        .pump_until(a.recover_timeout, |agg| {
            agg.totals().avalanche_recovered >= connected
        })
        .await?;
    // Keep publishing a little after recovery so the tail is checked too.
    load.coord.run_for(Duration::from_secs(2)).await?;
    let f = load.finish().await?;
    let mut p = params(&a.common, Some(&a.load));
    p.push(("before_drop".into(), format!("{:?}", a.before_drop)));
    let mut r = load_report("avalanche", p, &a.common, &f);
    let rec = r.counters.avalanche_recovered;
    let ratio = if connected == 0 {
        0.0
    } else {
        rec as f64 / connected as f64
    };
    r.notes.extend([
        ("dropped".into(), connected.to_string()),
        ("recovered".into(), rec.to_string()),
        ("success ratio".into(), format!("{ratio:.4}")),
        (
            "time to full recovery".into(),
            match (all, &r.recovery) {
                // Measured by the workers from the drop to each client's last `subscribed`.
                (true, Some(p)) => format!("{:.3}s", p.max_ms / 1000.0),
                _ => "not reached".into(),
            },
        ),
    ]);
    if !all {
        r.failures.push(format!(
            "only {rec} of {connected} clients recovered within {:?}",
            a.recover_timeout
        ));
        r.exit_code = EXIT_CHECK_FAILED;
    }
    Ok(r)
}
