//! Waiting for the signal to stop.
//!
//! The handlers are installed by [`Terminated::listen`], which a binary
//! calls before it binds a port or prints that it is ready: a SIGTERM that
//! arrives between "ready" and a handler installed later would take the
//! default action and kill the process mid-flight, with no drain.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT handlers, installed; [`Terminated::recv`] waits for
/// either.
#[derive(Debug)]
pub struct Terminated {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Terminated {
    /// Installs the handlers now. Must run inside a Tokio runtime.
    /// A handler that cannot be installed is logged and left out.
    pub fn listen() -> Self {
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, signal = name, "cannot listen for the signal");
                None
            }
        };
        Self {
            term: install(SignalKind::terminate(), "SIGTERM"),
            int: install(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves on the first SIGTERM or SIGINT (Ctrl-C) since
    /// [`Terminated::listen`]; never, if neither handler could be installed.
    pub async fn recv(&mut self) {
        async fn next(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.term) => tracing::info!("SIGTERM"),
            () = next(&mut self.int) => tracing::info!("SIGINT"),
        }
    }
}
