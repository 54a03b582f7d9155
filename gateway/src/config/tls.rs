//! The TLS flags turned into a [`TlsConfig`]: each listener's certificate
//! and key read and checked now, so a bad file stops the gateway (exit 2)
//! naming its option.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::args::GatewayArgs;
use crate::tls::{ListenerTls, TlsConfig, TlsFiles};

fn invalid(option: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option: option.to_owned(),
        message: message.into(),
    }
}

/// One listener's pair: both files or neither.
fn listener(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
    cert_option: &'static str,
    key_option: &'static str,
) -> Result<Option<ListenerTls>, ConfigError> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (Some(_), None) => {
            return Err(invalid(
                key_option,
                format!("is required with {cert_option}"),
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                cert_option,
                format!("is required with {key_option}"),
            ));
        }
    };
    let files = TlsFiles {
        cert_file: cert,
        key_file: key,
        cert_option,
        key_option,
    };
    let initial = crate::tls::load::load(&files).map_err(|e| {
        let option = match e.option() {
            "" => cert_option,
            o => o,
        };
        // The error's own text starts with the option; keep it once.
        let text = e.to_string();
        let message = text
            .strip_prefix(option)
            .map(|m| m.trim_start_matches(':').trim_start().to_owned())
            .unwrap_or(text);
        invalid(option, message)
    })?;
    Ok(Some(ListenerTls { files, initial }))
}

impl GatewayArgs {
    /// Both listeners' TLS and the watch interval.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the option of a missing half of a
    /// pair, an unreadable or bad file, a key that does not fit its
    /// certificate, or an interval over an hour.
    pub(super) fn tls_config(&self) -> Result<TlsConfig, ConfigError> {
        let client = listener(
            self.tls_cert_file.as_ref(),
            self.tls_key_file.as_ref(),
            "--tls-cert-file",
            "--tls-key-file",
        )?;
        let admin = listener(
            self.admin_tls_cert_file.as_ref(),
            self.admin_tls_key_file.as_ref(),
            "--admin-tls-cert-file",
            "--admin-tls-key-file",
        )?;
        if self.tls_watch_interval_ms > 3_600_000 {
            return Err(invalid(
                "--tls-watch-interval-ms",
                "must be at most 3600000 (0 turns the watch off)",
            ));
        }
        Ok(TlsConfig {
            client,
            admin,
            watch_interval: (self.tls_watch_interval_ms > 0)
                .then(|| Duration::from_millis(self.tls_watch_interval_ms)),
        })
    }
}
