//! The `herald-gateway` binary: parse config, start, wait for SIGTERM or
//! Ctrl-C, drain.

use std::process::ExitCode;

use anyhow::Context;
use herald_gateway::config::GatewayArgs;
use herald_gateway::server::Gateway;
use herald_service::config::{ParseOutcome, parse_args};

/// jemalloc, for its introspection: `herald_process_heap_*_bytes` on `/metrics`
/// (`herald_service::metrics::heap`).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = match parse_args::<GatewayArgs>(std::env::args_os()) {
        Ok(a) => a,
        Err(ParseOutcome::Clap(e)) => e.exit(),
        Err(ParseOutcome::Config(e)) => {
            eprintln!("herald-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    herald_service::telemetry::init_tracing(&args.log, args.log_json);
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("herald-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("herald-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: herald_gateway::config::Config) -> anyhow::Result<()> {
    // Before the ports open: a SIGTERM right after the banner drains too.
    let mut terminated = herald_service::signal::Terminated::listen();
    let gateway = Gateway::start(config).await.context("cannot start")?;
    let (http, ws) = if gateway.client_tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let admin = if gateway.admin_tls { "https" } else { "http" };
    let quic = gateway
        .quic_addr
        .map(|a| format!("  webtransport https://{a}/wt"))
        .unwrap_or_default();
    println!(
        "herald-gateway: dashboard {http}://{}/  websocket {ws}://{}/ws  admin {admin}://{}/metrics{quic}",
        gateway.client_addr, gateway.client_addr, gateway.admin_addr
    );
    terminated.recv().await;
    let left = gateway.shutdown().await;
    if left > 0 {
        tracing::warn!(left, "grace period ended with connections still open");
    }
    Ok(())
}
