//! `fanout`: clients in rooms, a publisher at a fixed rate; latency and an
//! exact delivery check (every published message, once, in order).

use super::{Load, ScenarioError, load_report, params};
use crate::cli::FanoutArgs;
use crate::report::RunReport;

/// Runs the scenario.
///
/// # Errors
/// [`ScenarioError`] for bad flags or dead workers.
pub async fn run(a: &FanoutArgs) -> Result<RunReport, ScenarioError> {
    let mut load = Load::start(&a.common, &a.load, 0.0).await?;
    load.coord.run_for(a.common.duration).await?;
    let f = load.finish().await?;
    Ok(load_report(
        "fanout",
        params(&a.common, Some(&a.load)),
        &a.common,
        &f,
    ))
}
