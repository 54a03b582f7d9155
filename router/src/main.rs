//! The `herald-router` binary: parse config, run until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use herald_router::config::RouterArgs;
use herald_service::config::{ParseOutcome, parse_args};
use tokio_util::sync::CancellationToken;

/// jemalloc, for its introspection: `herald_process_heap_*_bytes` on `/metrics`
/// (`herald_service::metrics::heap`).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = match parse_args::<RouterArgs>(std::env::args_os()) {
        Ok(a) => a,
        Err(ParseOutcome::Clap(e)) => e.exit(),
        Err(ParseOutcome::Config(e)) => {
            eprintln!("herald-router: {e}");
            return ExitCode::from(2);
        }
    };
    herald_service::telemetry::init_tracing(&args.log, args.log_json);
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("herald-router: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("herald-router: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = CancellationToken::new();
    let result = runtime.block_on(async {
        // Before the router starts: a SIGTERM at any point after it says it
        // is ready drains it.
        let mut terminated = herald_service::signal::Terminated::listen();
        // No task of its own: the signal is awaited beside the router, which
        // then shuts down (and awaits its tracked tasks).
        let app = herald_router::app::run(config, stop.clone());
        tokio::pin!(app);
        tokio::select! {
            r = &mut app => r,
            () = terminated.recv() => {
                stop.cancel();
                app.await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-router: {e}");
            ExitCode::FAILURE
        }
    }
}
