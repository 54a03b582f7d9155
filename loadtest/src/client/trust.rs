//! Trusting a gateway's QUIC certificate by its SHA-256, as a page does
//! with `serverCertificateHashes`: the hashes come from `--quic-cert-hash`
//! or, fetched once per run by the coordinator, from the gateway's
//! `GET /wt/certificate-hash` on its TCP client listener. Verification is
//! never skipped: a certificate whose hash is not listed fails the
//! handshake.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Deserialize;

use crate::plan::WorkerPlan;

/// Why the certificate's hash could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// `--quic-cert-hash` is not 64 hex digits.
    #[error("bad certificate hash {0:?}: want 64 hex digits (a SHA-256)")]
    BadHex(String),
    /// The URL names no host and port.
    #[error("bad url {0:?}: {1}")]
    BadUrl(String, String),
    /// The hash endpoint did not answer usefully.
    #[error(
        "GET {0}: {1} (pass --quic-cert-hash HEX when the gateway has a configured certificate)"
    )]
    Fetch(String, String),
}

/// A gateway URL split into what the QUIC transports need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicUrl {
    /// `host:port` of the TCP client listener (where the hash is served).
    pub authority: String,
    /// The UDP port when the URL names it (`https://HOST:PORT/wt`,
    /// `quic://HOST:PORT`); `None` for `ws://` (the hash answer says).
    pub udp_port: Option<u16>,
}

/// Splits `ws://HOST:PORT/...`, `https://HOST:PORT/wt` or `quic://HOST:PORT`.
///
/// # Errors
/// [`TrustError::BadUrl`] for another scheme or a missing port.
pub fn quic_url(url: &str) -> Result<QuicUrl, TrustError> {
    let bad = |why: &str| TrustError::BadUrl(url.to_owned(), why.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .ok_or_else(|| bad("the QUIC transports need an explicit port"))?;
    let udp_port = match scheme {
        "ws" => None,
        "https" | "quic" => Some(port),
        _ => return Err(bad("want ws://, https:// or quic://")),
    };
    Ok(QuicUrl {
        authority: authority.to_owned(),
        udp_port,
    })
}

/// Parses a SHA-256 written as 64 hex digits (`:` separators allowed).
///
/// # Errors
/// [`TrustError::BadHex`] otherwise.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, TrustError> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    let bad = || TrustError::BadHex(text.to_owned());
    if digits.len() != 64 {
        return Err(bad());
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// The `GET /wt/certificate-hash` body (the fields used here).
#[derive(Debug, Deserialize)]
struct HashBody {
    algorithm: String,
    hex: String,
    port: u16,
}

/// Fetches `http://AUTHORITY/wt/certificate-hash`: the hash (hex) and the UDP port.
///
/// # Errors
/// [`TrustError::Fetch`] when the request fails or the body is not a SHA-256.
pub async fn fetch(http: &reqwest::Client, authority: &str) -> Result<(String, u16), TrustError> {
    let url = format!("http://{authority}/wt/certificate-hash");
    let fail = |e: String| TrustError::Fetch(url.clone(), e);
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("status {}", resp.status())));
    }
    let body: HashBody = resp.json().await.map_err(|e| fail(e.to_string()))?;
    if body.algorithm != "sha-256" {
        return Err(fail(format!("algorithm {:?}", body.algorithm)));
    }
    parse_hex(&body.hex).map_err(|e| fail(e.to_string()))?;
    Ok((body.hex, body.port))
}

/// Fills the plans' QUIC hashes and ports, once for the run: for each URL,
/// the UDP port it names, or the one the hash answer gives, or (with
/// `--quic-cert-hash`, and a `ws://` URL) the TCP port's number.
///
/// # Errors
/// [`TrustError`] for a bad URL or hash, or a failed fetch.
pub async fn prepare(plans: &mut [WorkerPlan]) -> Result<(), TrustError> {
    let Some(first) = plans.first() else {
        return Ok(());
    };
    if !first.transport.is_quic() {
        return Ok(());
    }
    let mut hashes = first.quic_cert_hashes.clone();
    for h in &hashes {
        parse_hex(h)?;
    }
    let fetch_hashes = hashes.is_empty();
    let http = reqwest::Client::new();
    let mut ports = Vec::new();
    for url in &first.urls {
        let q = quic_url(url)?;
        let tcp_port = q
            .authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_default();
        let port = if fetch_hashes {
            let (hex, port) = fetch(&http, &q.authority).await?;
            if !hashes.contains(&hex) {
                hashes.push(hex);
            }
            q.udp_port.unwrap_or(port)
        } else {
            q.udp_port.unwrap_or(tcp_port)
        };
        ports.push(port);
    }
    for p in plans {
        p.quic_cert_hashes.clone_from(&hashes);
        p.quic_ports.clone_from(&ports);
    }
    Ok(())
}

/// A rustls verifier that accepts exactly the certificates whose SHA-256
/// (of the whole DER) is listed; signatures are checked as usual.
#[derive(Debug)]
pub struct HashVerifier {
    hashes: Vec<Vec<u8>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl HashVerifier {
    /// A verifier accepting `hashes`.
    pub fn new(hashes: Vec<Vec<u8>>, provider: Arc<rustls::crypto::CryptoProvider>) -> Arc<Self> {
        Arc::new(Self { hashes, provider })
    }
}

impl ServerCertVerifier for HashVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let h = ring::digest::digest(&ring::digest::SHA256, end_entity);
        if self.hashes.iter().any(|x| x.as_slice() == h.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quic_urls_name_the_hash_listener_and_maybe_the_udp_port() {
        assert_eq!(
            quic_url("ws://127.0.0.1:8080/ws").unwrap(),
            QuicUrl {
                authority: "127.0.0.1:8080".into(),
                udp_port: None
            }
        );
        assert_eq!(
            quic_url("https://localhost:4433/wt?x=1").unwrap().udp_port,
            Some(4433)
        );
        assert_eq!(
            quic_url("quic://127.0.0.1:9000").unwrap().authority,
            "127.0.0.1:9000"
        );
        assert!(quic_url("ws://127.0.0.1/ws").is_err());
        assert!(quic_url("http://127.0.0.1:80/").is_err());
        assert!(quic_url("127.0.0.1:80").is_err());
    }

    #[test]
    fn hashes_parse_from_hex_with_or_without_colons() {
        let hex = "00ff".repeat(16);
        assert_eq!(parse_hex(&hex).unwrap().len(), 32);
        let colons: Vec<String> = (0..32).map(|i| format!("{i:02X}")).collect();
        assert_eq!(parse_hex(&colons.join(":")).unwrap()[31], 31);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex(&"zz".repeat(32)).is_err());
    }
}
