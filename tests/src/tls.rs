//! TLS for the tests: a throwaway CA made at test time, leaf certificates
//! it signs (written as PEM files for the gateway), and clients that
//! trust only it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::ws::Client;

/// The name every leaf certificate is issued for (and clients ask for).
pub const SERVER_NAME: &str = "localhost";

/// A certificate authority for one test.
pub struct TestCa {
    /// The CA's certificate.
    cert: rcgen::Certificate,
    /// Its issuer handle, to sign leaves with.
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A leaf certificate and its key, as PEM and the certificate's DER.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER: what a handshake presents.
    pub der: Vec<u8>,
}

impl Leaf {
    /// Writes the pair to `dir/<stem>.crt` and `dir/<stem>.key`, each by
    /// a rename (so a watcher never sees half a file); returns the paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        replace(&cert, self.cert_pem.as_bytes());
        replace(&key, self.key_pem.as_bytes());
        (cert, key)
    }
}

/// Replaces `path` with `bytes` by writing a sibling and renaming it.
pub fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

impl TestCa {
    /// A new CA, named `name`.
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(params, key);
        Self { cert, issuer }
    }

    /// The CA certificate, PEM (for `NODE_EXTRA_CA_CERTS`, say).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for [`SERVER_NAME`] and 127.0.0.1 whose subject's common
    /// name is `cn`.
    pub fn leaf(&self, cn: &str) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let mut params =
            rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("leaf params");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client configuration that trusts this CA only.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert.der().to_vec()))
            .expect("CA into roots");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// A TLS connection to `addr`, verified against this CA.
    ///
    /// # Errors
    /// When the TCP connection or the handshake fails.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(SERVER_NAME).expect("server name");
        TlsConnector::from(self.client_config())
            .connect(name, tcp)
            .await
    }

    /// The leaf certificate (DER) `addr` presents to a new handshake.
    pub async fn served_cert(&self, addr: SocketAddr) -> Vec<u8> {
        let tls = self.connect(addr).await.expect("TLS handshake");
        leaf_of(&tls)
    }

    /// A native-protocol client over `wss://addr/ws`, its `welcome` read,
    /// and the leaf certificate its handshake got.
    pub async fn wss(&self, addr: SocketAddr) -> (Client<TlsStream<TcpStream>>, Vec<u8>) {
        let tls = self.connect(addr).await.expect("TLS handshake");
        let served = leaf_of(&tls);
        let url = format!("wss://{SERVER_NAME}:{}/ws", addr.port());
        let (ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket handshake over TLS");
        let (client, _) = Client::welcomed(ws).await;
        (client, served)
    }

    /// An HTTP client that trusts this CA (and no other).
    pub fn https_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls((*self.client_config()).clone())
            .no_proxy()
            .build()
            .expect("https client")
    }
}

fn leaf_of(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("the server presented a certificate")
}
