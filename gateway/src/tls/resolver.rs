//! The certificate every new handshake gets, swappable while connections
//! run.

use std::sync::Arc;

use parking_lot::RwLock;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::TlsError;

/// The current certificate of one listener. [`ReloadableCert::replace`]
/// changes what later handshakes present; connections already
/// established keep theirs.
#[derive(Debug)]
pub struct ReloadableCert {
    /// The certificate and key handshakes present now.
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Starts with `key`.
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self {
            current: RwLock::new(key),
        }
    }

    /// Presents `key` to every handshake from now on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write() = key;
    }

    /// The certificate and key handshakes present now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().clone()
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A server configuration that asks `cert` at each handshake: TLS 1.2
/// and 1.3, no client certificates, ALPN `http/1.1` (WebSocket upgrades
/// need HTTP/1.1).
///
/// # Errors
/// [`TlsError::Config`] if the provider supports no protocol version.
pub fn server_config(cert: Arc<ReloadableCert>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
