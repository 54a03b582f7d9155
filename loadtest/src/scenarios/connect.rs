//! `connect`: ramp up idle connections, hold them, measure RSS per connection.

use super::{
    FINISH_TIMEOUT, ScenarioError, check_common, fill_from, fill_loadgen, gateway_reports, params,
    plans,
};
use crate::cli::ConnectArgs;
use crate::coordinator::Coordinator;
use crate::metrics_scrape::scrape_all;
use crate::plan::RoomPlan;
use crate::report::{EXIT_CHECK_FAILED, RunReport};

/// Runs the scenario.
///
/// # Errors
/// [`ScenarioError`] for bad flags or dead workers.
pub async fn run(a: &ConnectArgs) -> Result<RunReport, ScenarioError> {
    let c = &a.common;
    check_common(c)?;
    let http = reqwest::Client::new();
    let before = scrape_all(&http, &c.admins).await;
    let mut coord = Coordinator::spawn(
        plans(c, a.connections, a.rate, RoomPlan::default(), 0.0, false),
        !c.no_progress,
    )
    .await?;
    let all_settled = coord.wait_ready(c.ready_timeout).await?;
    coord.run_for(a.hold).await?;
    let after = scrape_all(&http, &c.admins).await;
    let loadgen = coord.loadgen_sample();
    let agg = coord.finish(Vec::new(), FINISH_TIMEOUT).await?;

    let mut p = params(c, None);
    p.extend([
        ("connections".to_owned(), a.connections.to_string()),
        ("rate".to_owned(), a.rate.to_string()),
        ("hold".to_owned(), format!("{:?}", a.hold)),
    ]);
    let mut r = RunReport {
        scenario: "connect".into(),
        params: p,
        ..RunReport::default()
    };
    fill_from(&mut r, &agg);
    let p99 = r.connect_latency.map(|l| l.p99_ms);
    fill_loadgen(&mut r, &loadgen, p99);
    r.duration_s = agg.last_t_s();
    let ok = r.counters.connect_ok as f64;
    let (g, overall) = gateway_reports(
        &c.admins,
        &before,
        &after,
        ok / c.admins.len().max(1) as f64,
    );
    r.gateways = g;
    r.rss_per_connection_bytes = overall;
    let fails = r.counters.connect_fail as f64;
    if !all_settled {
        r.failures.push(format!(
            "not every connect attempt finished within {:?}",
            c.ready_timeout
        ));
    }
    if a.connections > 0 && fails / a.connections as f64 > a.max_fail_ratio {
        r.failures
            .push(format!("{fails} of {} connects failed", a.connections));
    }
    if r.counters.disconnects > 0 {
        r.notes.push((
            "dropped while idle".into(),
            r.counters.disconnects.to_string(),
        ));
    }
    r.exit_code = if r.failures.is_empty() {
        0
    } else {
        EXIT_CHECK_FAILED
    };
    Ok(r)
}
