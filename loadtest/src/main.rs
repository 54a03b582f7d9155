//! The `herald-loadtest` binary: parses the command line and runs a scenario.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use herald_loadtest::cli::{Cli, Command};
use herald_loadtest::report::{self, RunReport};
use herald_loadtest::{scenarios, worker};
use tokio::io::BufReader;

/// jemalloc, the allocator of the gateways it measures, so that a load
/// generator and its target behave alike under allocation pressure.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr: a worker's stdout carries its reports.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    herald_service::telemetry::init_tracing(&filter, false);
    let is_worker = matches!(cli.command, Command::Worker);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if is_worker {
        worker::raise_nofile();
    }
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let (report, common) = match &cli.command {
        Command::Worker => {
            worker::run(BufReader::new(tokio::io::stdin()), tokio::io::stdout())
                .await
                .context("worker")?;
            return Ok(0);
        }
        Command::Connect(a) => {
            worker::raise_nofile();
            (scenarios::connect::run(a).await?, &a.common)
        }
        Command::Fanout(a) => (scenarios::fanout::run(a).await?, &a.common),
        Command::Churn(a) => (scenarios::churn::run(a).await?, &a.common),
        Command::Avalanche(a) => (scenarios::avalanche::run(a).await?, &a.common),
        Command::Soak(a) => (scenarios::soak::run(a).await?, &a.common),
    };
    output(&report, common.json.as_deref(), common.html.as_deref())?;
    Ok(report.exit_code)
}

fn output(
    r: &RunReport,
    json: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    print!("{}", report::table::render(r));
    if let Some(p) = json {
        report::json::write(r, p).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = html {
        report::html::write(r, p).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
