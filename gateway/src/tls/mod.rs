//! TLS on the client and admin listeners (rustls with ring), with
//! certificates reloaded while the gateway runs (`docs/security.md`,
//! "TLS").
//!
//! # Layout
//! - [`load`]: a certificate chain and private key read from PEM files,
//!   checked to match ([`load::load`], [`TlsError`]).
//! - [`resolver`]: the [`resolver::ReloadableCert`] every new handshake
//!   asks for the current certificate, and the [`resolver::server_config`]
//!   built around it.
//! - [`reload`]: the task that swaps certificates on SIGHUP and when the
//!   files change, keeping the old one when the new files are bad.
//! - [`relay`]: a TLS connection's plaintext as a local socket, so the
//!   WebSocket transports write to it as they write to TCP.
//! - [`handshake`]: the server side of a handshake, under a timeout.
//!
//! A reload changes only what later handshakes get: a connection keeps
//! the session it negotiated, so none is dropped.

pub mod handshake;
pub mod load;
pub mod relay;
pub mod reload;
pub mod resolver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use load::TlsError;

/// A TLS connection accepted from a client, as the server sees it.
pub type ServerStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// Where one listener's certificate and key live, and the options that
/// named them (errors name the option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file: the leaf certificate first, then its intermediates.
    pub cert_file: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_file: PathBuf,
    /// The option that gave `cert_file` (`--tls-cert-file`, …).
    pub cert_option: &'static str,
    /// The option that gave `key_file` (`--tls-key-file`, …).
    pub key_option: &'static str,
}

/// One listener's TLS: its files, and the certificate read from them at
/// start (so a bad file stops the gateway before it listens).
#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// Where the certificate and key are read from, at start and reload.
    pub files: TlsFiles,
    /// What the files held when the configuration was checked.
    pub initial: load::Loaded,
}

/// The gateway's TLS settings.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// The client listener's TLS (`--tls-cert-file`, `--tls-key-file`);
    /// `None`: plain HTTP.
    pub client: Option<ListenerTls>,
    /// The admin listener's TLS (`--admin-tls-cert-file`,
    /// `--admin-tls-key-file`); `None`: plain HTTP. It never falls back to
    /// the client pair.
    pub admin: Option<ListenerTls>,
    /// How often the files are checked for changes
    /// (`--tls-watch-interval-ms`); `None`: only SIGHUP reloads.
    pub watch_interval: Option<Duration>,
}

impl TlsConfig {
    /// Whether either listener speaks TLS.
    pub fn enabled(&self) -> bool {
        self.client.is_some() || self.admin.is_some()
    }
}

/// The crypto provider every TLS config here uses: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests;
