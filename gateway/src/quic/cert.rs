//! The QUIC listener's certificate.
//!
//! With `--tls-cert-file`/`--tls-key-file`, QUIC presents the client
//! listener's certificate through the same [`ReloadableCert`], so a reload
//! (SIGHUP or a file change) reaches new QUIC handshakes without a
//! restart. In standalone mode without one, [`SelfSigned`] makes an ECDSA
//! P-256 certificate valid for [`VALIDITY`] (under the 14 days browsers
//! accept for `serverCertificateHashes`), replaces it at half-life, and
//! publishes the SHA-256 of the whole DER certificate for the page.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use crate::tls::resolver::ReloadableCert;

/// How long a self-signed certificate is valid: browsers accept hashes
/// only of certificates valid for less than 14 days.
pub const VALIDITY: Duration = Duration::from_secs(13 * 24 * 3600);

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the key.
    #[error("cannot load the generated key: {0}")]
    Key(#[from] rustls::Error),
}

/// What the page needs to trust a self-signed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertHash {
    /// SHA-256 of the whole DER certificate.
    pub sha256: [u8; 32],
    /// When it stops being valid, Unix milliseconds.
    pub expires_ms: u64,
}

impl CertHash {
    /// The `GET /wt/certificate-hash` body: the algorithm, the hash in
    /// base64 (what `serverCertificateHashes` takes, decoded) and hex, and
    /// the expiry in Unix milliseconds.
    pub fn json(&self) -> serde_json::Value {
        use base64::Engine;
        let hex: String = self.sha256.iter().map(|b| format!("{b:02x}")).collect();
        serde_json::json!({
            "algorithm": "sha-256",
            "value": base64::engine::general_purpose::STANDARD.encode(self.sha256),
            "hex": hex,
            "expires": self.expires_ms,
        })
    }
}

/// A freshly generated certificate: the key handshakes present and its hash.
pub struct Generated {
    /// The certificate and its signing key.
    pub key: Arc<CertifiedKey>,
    /// Its hash and expiry.
    pub hash: CertHash,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Generates an ECDSA P-256 certificate for `names` (DNS names or IP
/// addresses) valid from a minute ago for [`VALIDITY`].
///
/// # Errors
/// [`CertError`] if rcgen or rustls fail.
pub fn generate(names: &[String]) -> Result<Generated, CertError> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::minutes(1);
    // Less than VALIDITY from not_before, so the whole span stays < 14 days.
    params.not_before = not_before;
    params.not_after = not_before + time::Duration::seconds(VALIDITY.as_secs() as i64);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "herald standalone");
    let cert = params.self_signed(&key_pair)?;
    let der = CertificateDer::from(cert.der().to_vec());
    let sha256 = {
        let d = ring::digest::digest(&ring::digest::SHA256, &der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let signer = crate::tls::provider().key_provider.load_private_key(key)?;
    let expires = SystemTime::now() + VALIDITY - Duration::from_secs(60);
    Ok(Generated {
        key: Arc::new(CertifiedKey::new(vec![der], signer)),
        hash: CertHash {
            sha256,
            expires_ms: unix_ms(expires),
        },
    })
}

/// The standalone gateway's self-signed QUIC certificate, rotated at
/// half-life: new connections get the new one, established ones keep
/// theirs.
pub struct SelfSigned {
    /// What QUIC handshakes present.
    pub cert: Arc<ReloadableCert>,
    /// The names the certificate is for.
    names: Vec<String>,
    /// The current certificate's hash, served to pages.
    hash: RwLock<CertHash>,
}

impl SelfSigned {
    /// Generates the first certificate for `names`.
    ///
    /// # Errors
    /// [`CertError`] if it cannot be generated.
    pub fn new(names: Vec<String>) -> Result<Arc<Self>, CertError> {
        let g = generate(&names)?;
        Ok(Arc::new(Self {
            cert: Arc::new(ReloadableCert::new(g.key)),
            names,
            hash: RwLock::new(g.hash),
        }))
    }

    /// The current certificate's hash and expiry.
    pub fn hash(&self) -> CertHash {
        self.hash.read().clone()
    }

    /// Replaces the certificate with a new one.
    ///
    /// # Errors
    /// [`CertError`] if it cannot be generated (the old one stays).
    pub fn rotate(&self) -> Result<(), CertError> {
        let g = generate(&self.names)?;
        // The hash first: a page that fetched it connects after the swap.
        *self.hash.write() = g.hash;
        self.cert.replace(g.key);
        tracing::info!("self-signed QUIC certificate rotated");
        Ok(())
    }

    /// Rotates every `VALIDITY / 2` until `stop` (after a failure, retries
    /// in a minute).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut every = VALIDITY / 2;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            every = match self.rotate() {
                Ok(()) => VALIDITY / 2,
                Err(e) => {
                    tracing::error!(error = %e, "self-signed QUIC certificate not rotated");
                    Duration::from_secs(60)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_p256_and_under_fourteen_days() {
        let g = generate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        let der = &g.key.cert[0];
        let d = ring::digest::digest(&ring::digest::SHA256, der);
        assert_eq!(d.as_ref(), &g.hash.sha256, "the hash of the whole DER");
        // The ECDSA P-256 SPKI algorithm identifiers appear in the DER.
        let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        assert!(der.windows(p256.len()).any(|w| w == p256), "P-256");
        assert!(VALIDITY < Duration::from_secs(14 * 24 * 3600));
        let left = g.hash.expires_ms - unix_ms(SystemTime::now());
        assert!(left < 14 * 24 * 3600 * 1000 && left > 12 * 24 * 3600 * 1000);
    }

    #[test]
    fn rotation_changes_the_hash_and_the_presented_certificate() {
        let s = SelfSigned::new(vec!["localhost".into()]).unwrap();
        let (h1, c1) = (s.hash(), s.cert.current());
        s.rotate().unwrap();
        assert_ne!(h1.sha256, s.hash().sha256);
        assert_ne!(c1.cert[0], s.cert.current().cert[0]);
        let j = s.hash().json();
        assert_eq!(j["algorithm"], "sha-256");
        assert_eq!(j["hex"].as_str().unwrap().len(), 64);
    }
}
