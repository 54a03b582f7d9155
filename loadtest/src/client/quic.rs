//! Herald's native protocol on one QUIC bidirectional stream: raw QUIC
//! (ALPN `herald`) or WebTransport over HTTP/3 (`https://HOST:PORT/wt`),
//! framed with `herald_protocol::stream` (5-byte head, then the payload).
//!
//! A worker shares one quinn [`Endpoint`](quinn::Endpoint), one UDP
//! socket, per source address among all its connections (a socket per
//! connection would hit the open-files cap). The gateway's certificate is
//! trusted by its SHA-256 only ([`super::trust`]). A raw QUIC stream
//! reaches the gateway with its first bytes, so a raw connection sends a
//! `ping` right after opening it; its `pong` is an `Other` event.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use herald_protocol::Position;
use herald_protocol::RoomName;
use herald_protocol::native::{ClientFrame, Format, decode_server, encode_client};
use herald_protocol::stream::{self, Decoder, Kind};
use parking_lot::Mutex;
use quinn::{Endpoint, VarInt};
use web_transport_quinn::{RecvStream, SendStream, Session};

use super::native::{MAX_FRAME_BYTES, frame_event};
use super::trust::HashVerifier;
use super::{ClientError, ClientEvent, Target, WireFormat};

/// Which QUIC transport a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Raw QUIC, ALPN `herald`.
    Raw,
    /// WebTransport over HTTP/3 at `/wt`.
    WebTransport,
}

/// The ALPN of raw QUIC sessions.
pub const RAW_ALPN: &[u8] = b"herald";
/// The id of the ping that opens a raw QUIC stream.
pub const HELLO_ID: u64 = 0x0048_454c_4c4f;
/// The most bytes one read takes from the stream.
const READ_CHUNK: usize = 16 * 1024;
/// Flow-control credit per stream: what one slow reader lets the gateway
/// send ahead (a limit, not an allocation).
const STREAM_WINDOW: u32 = 256 * 1024;

/// What a worker's QUIC connections share: the endpoints (one per source
/// address) and the client configurations, trusting the run's hashes.
#[derive(Debug)]
pub struct QuicCtx {
    endpoints: Mutex<HashMap<IpAddr, Endpoint>>,
    raw: quinn::ClientConfig,
    wt: quinn::ClientConfig,
}

impl QuicCtx {
    /// Configurations trusting exactly `hashes` (SHA-256 of the DER).
    ///
    /// # Errors
    /// [`ClientError::Quic`] when no hash is given or TLS cannot be set up.
    pub fn new(hashes: Vec<Vec<u8>>) -> Result<Self, ClientError> {
        if hashes.is_empty() {
            return Err(ClientError::Quic(
                "no certificate hash to trust (fetch /wt/certificate-hash or pass --quic-cert-hash)"
                    .into(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = HashVerifier::new(hashes, provider.clone());
        let config = |alpn: &[u8]| -> Result<quinn::ClientConfig, ClientError> {
            let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(|e| ClientError::Quic(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth();
            tls.alpn_protocols = vec![alpn.to_vec()];
            let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
                .map_err(|e| ClientError::Quic(e.to_string()))?;
            let mut c = quinn::ClientConfig::new(Arc::new(crypto));
            let mut t = quinn::TransportConfig::default();
            t.stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
                .receive_window(VarInt::from_u32(2 * STREAM_WINDOW))
                .send_window(u64::from(STREAM_WINDOW))
                .max_concurrent_bidi_streams(VarInt::from_u32(0));
            c.transport_config(Arc::new(t));
            Ok(c)
        };
        Ok(Self {
            endpoints: Mutex::new(HashMap::new()),
            raw: config(RAW_ALPN)?,
            wt: config(web_transport_quinn::ALPN.as_bytes())?,
        })
    }

    /// The endpoint bound to `src` (created on first use), or to the
    /// unspecified address of `dst`'s family when `src` is of another.
    fn endpoint(&self, src: IpAddr, dst: SocketAddr) -> Result<Endpoint, ClientError> {
        let bind = if src.is_ipv4() == dst.is_ipv4() {
            src
        } else if dst.is_ipv4() {
            IpAddr::from([0u8; 4])
        } else {
            IpAddr::from([0u16; 8])
        };
        let mut map = self.endpoints.lock();
        if let Some(ep) = map.get(&bind) {
            return Ok(ep.clone());
        }
        let ep = Endpoint::client(SocketAddr::new(bind, 0))?;
        map.insert(bind, ep.clone());
        Ok(ep)
    }
}

/// An open native session on a QUIC stream.
#[derive(Debug)]
pub struct QuicConnection {
    session: Session,
    send: SendStream,
    recv: RecvStream,
    decoder: Decoder,
    format: Format,
    /// The session id from `welcome`.
    pub session_id: String,
}

/// The SNI and URL host: the URL's host name, `localhost` for an address
/// (the pinned hash does not depend on it).
fn server_name(target: &Target) -> &str {
    if target.host.parse::<IpAddr>().is_ok() || target.host.starts_with('[') {
        "localhost"
    } else {
        &target.host
    }
}

impl QuicConnection {
    /// Opens a session of `flavor` to the target's QUIC address from
    /// `src`, opens the stream and waits for `welcome`.
    ///
    /// # Errors
    /// [`ClientError`] when the handshake, the CONNECT, the stream or the
    /// greeting fails.
    pub async fn connect(
        ctx: &QuicCtx,
        flavor: Flavor,
        target: &Target,
        src: IpAddr,
        format: WireFormat,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let quic_err = |e: &dyn std::fmt::Display| ClientError::Quic(e.to_string());
        let ep = ctx.endpoint(src, target.quic_addr)?;
        let name = server_name(target);
        let config = match flavor {
            Flavor::Raw => ctx.raw.clone(),
            Flavor::WebTransport => ctx.wt.clone(),
        };
        let conn = ep
            .connect_with(config, target.quic_addr, name)
            .map_err(|e| quic_err(&e))?
            .await
            .map_err(|e| quic_err(&e))?;
        let session = match flavor {
            Flavor::Raw => Session::raw(conn),
            Flavor::WebTransport => {
                let mut url = format!("https://{name}:{}/wt", target.quic_addr.port());
                if let Some(t) = token {
                    url.push_str("?token=");
                    url.push_str(t);
                }
                let url: url::Url = url.parse().map_err(|e| quic_err(&e))?;
                Session::connect(conn, url)
                    .await
                    .map_err(|e| quic_err(&e))?
            }
        };
        let (send, recv) = session.open_bi().await.map_err(|e| quic_err(&e))?;
        let format = match format {
            WireFormat::Json => Format::Json,
            WireFormat::Msgpack => Format::MsgPack,
        };
        let mut c = Self {
            session,
            send,
            recv,
            decoder: Decoder::new(MAX_FRAME_BYTES),
            format,
            session_id: String::new(),
        };
        match (flavor, token) {
            // A raw stream opens with the client's first frame; the token
            // rides on an `auth` frame (WebTransport carries it in the URL).
            (Flavor::Raw, Some(t)) => {
                c.send(&ClientFrame::Auth {
                    token: t.to_owned(),
                    id: Some(HELLO_ID),
                })
                .await?;
            }
            (Flavor::Raw, None) => c.send(&ClientFrame::Ping { id: Some(HELLO_ID) }).await?,
            (Flavor::WebTransport, _) => {}
        }
        match c.next_frame().await? {
            Some(herald_protocol::native::ServerFrame::Welcome { session, .. }) => {
                c.session_id = session;
                Ok(c)
            }
            Some(other) => Err(ClientError::Protocol(format!(
                "expected welcome, got {other:?}"
            ))),
            None => Err(ClientError::Protocol("closed before welcome".into())),
        }
    }

    async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let payload = encode_client(frame, self.format);
        let mut bytes = Vec::with_capacity(stream::HEAD_LEN + payload.len());
        stream::encode_into(Kind::of(self.format), &payload, &mut bytes);
        self.send
            .write_all(&bytes)
            .await
            .map_err(|e| ClientError::Quic(e.to_string()))
    }

    /// Sends a `subscribe`.
    ///
    /// # Errors
    /// [`ClientError`] on a bad room name or a send failure.
    pub async fn subscribe(
        &mut self,
        room: &str,
        since: Option<(String, u64)>,
        id: u64,
    ) -> Result<(), ClientError> {
        let room = RoomName::new(room).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.send(&ClientFrame::Subscribe {
            room,
            since: since.map(|(epoch, offset)| Position { epoch, offset }),
            leave_others: false,
            token: None,
            id: Some(id),
        })
        .await
    }

    async fn next_frame(
        &mut self,
    ) -> Result<Option<herald_protocol::native::ServerFrame>, ClientError> {
        loop {
            if let Some((kind, payload)) = self
                .decoder
                .next_frame()
                .map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                return decode_server(&payload, kind.format())
                    .map(Some)
                    .map_err(|e| ClientError::Protocol(e.to_string()));
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.decoder.push(&chunk.bytes),
                Ok(None) | Err(_) => return Ok(None),
            }
        }
    }

    /// The next event; `None` when the stream or the session closed.
    ///
    /// # Errors
    /// [`ClientError`] on an undecodable frame.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        Ok(self.next_frame().await?.map(frame_event))
    }

    /// Finishes the stream and closes the session (code 1000), waiting
    /// briefly for the close to go out.
    pub async fn close(mut self) {
        let _ = self.send.finish();
        self.session.close(1000, b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.session.closed()).await;
    }
}
