//! Reloading certificates without a restart: on SIGHUP, and when the
//! files' bytes change (checked every `--tls-watch-interval-ms`).
//!
//! A reload reads both files, checks the key fits the certificate, and
//! only then swaps what later handshakes present. Bad files (unreadable,
//! not PEM, a key of another certificate, a pair caught half-replaced)
//! leave the old certificate in place: the error is logged and counted
//! in `herald_gateway_tls_reloads_total{outcome="error"}`. The watch
//! counts one outcome per change of the files' bytes, so a broken file
//! left in place is not counted again at every check; SIGHUP always
//! tries again.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::Signal;
use tokio_util::sync::CancellationToken;

use super::TlsFiles;
use super::load::{self, Loaded};
use super::resolver::ReloadableCert;
use crate::metrics::names;

/// One listener's certificate, as the reload task watches it.
#[derive(Debug)]
pub struct Watched {
    /// `client` or `admin`, for the log.
    pub listener: &'static str,
    /// The files it is read from.
    pub files: TlsFiles,
    /// What new handshakes on that listener present.
    pub cert: Arc<ReloadableCert>,
    /// The digest of the files' bytes at the last attempt (`None`: they
    /// could not be read then).
    pub seen: Option<[u8; 32]>,
}

impl Watched {
    /// Watches `files`, whose current contents are `initial`, for `cert`.
    pub fn new(
        listener: &'static str,
        files: TlsFiles,
        initial: &Loaded,
        cert: Arc<ReloadableCert>,
    ) -> Self {
        Self {
            listener,
            files,
            cert,
            seen: Some(initial.digest),
        }
    }

    /// Reloads when `force` (SIGHUP) or when the files' bytes changed
    /// since the last attempt. Returns the outcome, `None` when nothing
    /// was attempted.
    pub fn check(&mut self, force: bool) -> Option<Result<(), load::TlsError>> {
        let now = load::digest(&self.files);
        if !force && now == self.seen {
            return None;
        }
        self.seen = now;
        let outcome = load::load(&self.files).map(|loaded| {
            self.seen = Some(loaded.digest);
            self.cert.replace(loaded.key);
        });
        let label = if outcome.is_ok() { "ok" } else { "error" };
        metrics::counter!(names::TLS_RELOADS, "outcome" => label).increment(1);
        match &outcome {
            Ok(()) => {
                tracing::info!(listener = self.listener, cert = %self.files.cert_file.display(), "TLS certificate reloaded")
            }
            Err(e) => {
                tracing::error!(listener = self.listener, error = %e, "TLS certificate not reloaded; the old one stays in use")
            }
        }
        Some(outcome)
    }
}

/// Registers `herald_gateway_tls_reloads_total` at 0 for both outcomes.
pub fn register_metrics() {
    for outcome in ["ok", "error"] {
        metrics::counter!(names::TLS_RELOADS, "outcome" => outcome).increment(0);
    }
}

/// Runs until `stop`: reloads every watched certificate on each SIGHUP
/// (`hup`), and those whose files changed every `interval`.
pub async fn run(
    mut watched: Vec<Watched>,
    interval: Option<Duration>,
    mut hup: Option<Signal>,
    stop: CancellationToken,
) {
    let mut tick = interval.map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let force = tokio::select! {
            () = stop.cancelled() => return,
            Some(()) = async {
                match hup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                tracing::info!("SIGHUP: reloading TLS certificates");
                true
            }
            _ = async {
                match tick.as_mut() {
                    Some(t) => t.tick().await,
                    None => std::future::pending().await,
                }
            } => false,
        };
        for w in &mut watched {
            let _ = w.check(force);
        }
    }
}
