//! Reading a certificate chain and its private key from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::TlsFiles;

/// The largest certificate or key file read, in bytes.
pub const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

/// Why a certificate or key could not be loaded. Each names the option
/// whose file is at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("{option}: cannot read {path}: {source}")]
    Read {
        /// The option that named the file.
        option: &'static str,
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_PEM_FILE_BYTES`].
    #[error("{option}: {path} is {len} bytes; the limit is {MAX_PEM_FILE_BYTES}")]
    TooLarge {
        /// The option that named the file.
        option: &'static str,
        /// The file.
        path: String,
        /// Its length.
        len: u64,
    },
    /// The file is not PEM of the expected kind, or holds none.
    #[error("{option}: {path}: {reason}")]
    BadPem {
        /// The option that named the file.
        option: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key cannot sign, or does not belong to the certificate.
    #[error("{option}: {reason}")]
    BadKey {
        /// The option that named the key file.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS: {0}")]
    Config(String),
}

impl TlsError {
    /// The option whose file is at fault (empty for [`TlsError::Config`]).
    pub fn option(&self) -> &'static str {
        match self {
            Self::Read { option, .. }
            | Self::TooLarge { option, .. }
            | Self::BadPem { option, .. }
            | Self::BadKey { option, .. } => option,
            Self::Config(_) => "",
        }
    }
}

/// A certificate and key read from their files, and a digest of the
/// files' bytes (a reload is needed only when it changes).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The chain and signing key handshakes present.
    pub key: Arc<CertifiedKey>,
    /// SHA-256 of the certificate file's bytes, then the key file's.
    pub digest: [u8; 32],
}

/// SHA-256 over both files' bytes, or `None` when either cannot be read.
/// The reload watch compares it with the last one it saw.
pub fn digest(files: &TlsFiles) -> Option<[u8; 32]> {
    let cert = read(files.cert_option, &files.cert_file).ok()?;
    let key = read(files.key_option, &files.key_file).ok()?;
    Some(digest_of(&cert, &key))
}

fn digest_of(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(cert.len() as u64).to_be_bytes());
    ctx.update(cert);
    ctx.update(key);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Reads `files`: every certificate in the certificate file (leaf first),
/// the one private key in the key file, checked to match.
///
/// # Errors
/// [`TlsError`], naming the option whose file is unreadable, too large,
/// not PEM, without a certificate or key, or whose key does not match.
pub fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let cert_pem = read(files.cert_option, &files.cert_file)?;
    let key_pem = read(files.key_option, &files.key_file)?;
    let digest = digest_of(&cert_pem, &key_pem);
    let bad_pem = |option: &'static str, path: &Path, reason: String| TlsError::BadPem {
        option,
        path: path.display().to_string(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad_pem(files.cert_option, &files.cert_file, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad_pem(
            files.cert_option,
            &files.cert_file,
            "holds no certificate (BEGIN CERTIFICATE)".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        bad_pem(
            files.key_option,
            &files.key_file,
            format!("holds no usable private key: {e}"),
        )
    })?;
    let certified =
        CertifiedKey::from_der(chain, key, &super::provider()).map_err(|e| TlsError::BadKey {
            option: files.key_option,
            reason: format!(
                "the key in {} does not fit the certificate in {} ({e})",
                files.key_file.display(),
                files.cert_file.display()
            ),
        })?;
    // `from_der` lets a key whose public half it cannot compute pass;
    // a certificate the handshake could not use must not.
    if let Err(e) = certified
        .end_entity_cert()
        .and_then(|c| rustls::server::ParsedCertificate::try_from(c).map(|_| ()))
    {
        return Err(bad_pem(files.cert_option, &files.cert_file, e.to_string()));
    }
    Ok(Loaded {
        key: Arc::new(certified),
        digest,
    })
}

fn read(option: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let failed = |source| TlsError::Read {
        option,
        path: path.display().to_string(),
        source,
    };
    let len = std::fs::metadata(path).map_err(failed)?.len();
    if len > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge {
            option,
            path: path.display().to_string(),
            len,
        });
    }
    let bytes = std::fs::read(path).map_err(failed)?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge {
            option,
            path: path.display().to_string(),
            len: bytes.len() as u64,
        });
    }
    Ok(bytes)
}
