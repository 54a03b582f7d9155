//! Native-protocol clients over QUIC for tests: raw QUIC (ALPN `herald`)
//! and WebTransport (`https://HOST:PORT/wt`), both on one bidirectional
//! stream framed with `herald_protocol::stream`, trusting the gateway's
//! certificate by its SHA-256 (as a page does with
//! `serverCertificateHashes`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald_protocol::native::{ClientFrame, Format, ServerFrame, decode_server, encode_client};
use herald_protocol::stream::{self, Decoder, Kind};
use web_transport_quinn::{RecvStream, SendStream, Session, quinn};

use crate::ws::{FRAME_TIMEOUT, Received};

/// A rustls verifier that accepts exactly the certificates whose SHA-256
/// (of the whole DER) is listed.
#[derive(Debug)]
pub struct HashVerifier {
    /// Accepted hashes.
    hashes: Vec<Vec<u8>>,
    /// Signature checks.
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl HashVerifier {
    /// A verifier accepting `hashes`.
    pub fn new(hashes: Vec<Vec<u8>>) -> Arc<Self> {
        Arc::new(Self {
            hashes,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }
}

impl rustls::client::danger::ServerCertVerifier for HashVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let h = ring::digest::digest(&ring::digest::SHA256, end_entity);
        if self.hashes.iter().any(|x| x.as_slice() == h.as_ref()) {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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

/// A rustls client config for raw QUIC (ALPN `herald`, TLS 1.3) trusting
/// `hashes`; `early_data` asks for 0-RTT when a ticket allows it.
pub fn raw_tls(hashes: Vec<Vec<u8>>, early_data: bool) -> rustls::ClientConfig {
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("TLS 1.3")
    .dangerous()
    .with_custom_certificate_verifier(HashVerifier::new(hashes))
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"herald".to_vec()];
    tls.enable_early_data = early_data;
    tls
}

/// A quinn client config from `tls`.
pub fn quinn_config(tls: rustls::ClientConfig) -> quinn::ClientConfig {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
    quinn::ClientConfig::new(Arc::new(crypto))
}

/// A client endpoint on an ephemeral loopback port.
pub fn endpoint() -> quinn::Endpoint {
    quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client endpoint")
}

/// The id of the ping that opens a raw QUIC stream.
pub const HELLO_ID: u64 = 0x0048_454c_4c4f;

/// Which QUIC transport a [`QuicClient`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Raw QUIC, ALPN `herald`.
    Raw,
    /// WebTransport over HTTP/3 at `/wt`.
    WebTransport,
}

/// A connected native client on a QUIC stream.
pub struct QuicClient {
    /// The session (raw sessions are `Session::raw`).
    pub session: Session,
    /// The stream's send side.
    pub send: SendStream,
    /// The stream's receive side.
    pub recv: RecvStream,
    /// Bytes read and not yet a frame.
    decoder: Decoder,
    /// The format frames are sent in.
    pub format: Format,
    /// Whether the pong to the opening ping is still to be skipped.
    hello: bool,
    /// Keeps the endpoint alive.
    _endpoint: Option<quinn::Endpoint>,
}

impl QuicClient {
    /// Opens a session of `flavor` to `addr` trusting `hash`, opens the
    /// stream, and reads `welcome`.
    pub async fn connect(flavor: Flavor, addr: SocketAddr, hash: Vec<u8>) -> (Self, ServerFrame) {
        let mut c = Self::open(flavor, addr, hash, "").await;
        let welcome = c.next_frame().await;
        assert!(
            matches!(welcome, ServerFrame::Welcome { .. }),
            "{welcome:?}"
        );
        (c, welcome)
    }

    /// Opens a session and its stream without reading anything; `query`
    /// is appended to the WebTransport URL (`?format=msgpack`).
    pub async fn open(flavor: Flavor, addr: SocketAddr, hash: Vec<u8>, query: &str) -> Self {
        let (session, endpoint) = match flavor {
            Flavor::Raw => {
                let ep = endpoint();
                let conn = ep
                    .connect_with(quinn_config(raw_tls(vec![hash], false)), addr, "localhost")
                    .expect("connect")
                    .await
                    .expect("QUIC handshake");
                (Session::raw(conn), Some(ep))
            }
            Flavor::WebTransport => {
                let client = web_transport_quinn::ClientBuilder::new()
                    .with_server_certificate_hashes(vec![hash])
                    .expect("client");
                let url: url::Url = format!("https://localhost:{}/wt{query}", addr.port())
                    .parse()
                    .expect("url");
                (
                    client.connect(url).await.expect("WebTransport session"),
                    None,
                )
            }
        };
        let (send, recv) = session.open_bi().await.expect("open the session stream");
        let mut c = Self {
            session,
            send,
            recv,
            decoder: Decoder::new(16 << 20),
            format: Format::Json,
            hello: false,
            _endpoint: endpoint,
        };
        if flavor == Flavor::Raw {
            // A raw QUIC stream reaches the gateway with its first bytes:
            // a ping opens it; its pong is skipped.
            c.send(&ClientFrame::Ping { id: Some(HELLO_ID) }).await;
            c.hello = true;
        }
        c
    }

    /// Sends a frame in this client's format.
    pub async fn send(&mut self, f: &ClientFrame) {
        let payload = encode_client(f, self.format);
        self.send_frame(Kind::of(self.format), &payload).await;
    }

    /// Sends one stream frame of `kind` with `payload`.
    pub async fn send_frame(&mut self, kind: Kind, payload: &[u8]) {
        let mut bytes = stream::head(kind, payload.len()).to_vec();
        bytes.extend_from_slice(payload);
        self.send_raw(&bytes).await;
    }

    /// Writes raw bytes to the stream.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.send.write_all(bytes).await;
    }

    /// The session's close code, once it closed (waits at most a few seconds).
    pub async fn close_code(&self) -> Option<u16> {
        let err = tokio::time::timeout(Duration::from_secs(5), self.session.closed())
            .await
            .ok()?;
        match err {
            web_transport_quinn::SessionError::WebTransportError(
                web_transport_quinn::WebTransportError::Closed(code, _),
            ) => u16::try_from(code).ok(),
            web_transport_quinn::SessionError::ConnectionError(
                quinn::ConnectionError::ApplicationClosed(c),
            ) => u16::try_from(c.error_code.into_inner()).ok(),
            _ => None,
        }
    }

    /// Reads the next frame or the close.
    pub async fn recv(&mut self) -> Received {
        loop {
            match self.decoder.next_frame() {
                Ok(Some((kind, payload))) => {
                    let f = decode_server(&payload, kind.format()).expect("server frame");
                    if self.hello && matches!(f, ServerFrame::Pong { id: Some(HELLO_ID) }) {
                        self.hello = false;
                        continue;
                    }
                    return Received::Frame(f);
                }
                Ok(None) => {}
                Err(e) => panic!("bad stream from the gateway: {e}"),
            }
            let chunk = tokio::time::timeout(FRAME_TIMEOUT, self.recv.read_chunk(64 * 1024, true))
                .await
                .expect("a frame within the timeout");
            match chunk {
                Ok(Some(c)) => self.decoder.push(&c.bytes),
                Ok(None) | Err(_) => return Received::Closed(self.close_code().await),
            }
        }
    }

    /// Reads the next frame; panics on close.
    pub async fn next_frame(&mut self) -> ServerFrame {
        match self.recv().await {
            Received::Frame(f) => f,
            Received::Closed(c) => panic!("session closed ({c:?}) while a frame was expected"),
        }
    }
}
