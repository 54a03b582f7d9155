//! A JWKS endpoint for the tests: a tiny HTTP/1.1 server on a plain
//! thread that answers every request with what the test last set, and
//! counts the requests; plus HMAC keys for it and tokens they sign.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status with an empty body; `Some(location)` adds a
    /// `Location` header (a redirect).
    Status(u16, Option<String>),
    /// Close the connection without answering (a server that is down).
    Drop,
}

/// The server. Dropping it stops it.
pub struct JwksServer {
    /// Where it listens.
    pub addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl JwksServer {
    /// Starts a server answering `reply`.
    pub fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reply = Arc::new(Mutex::new(reply));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (reply.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                let answer = r.lock().clone();
                answer_one(conn, &answer);
            }
        });
        Self {
            addr,
            reply,
            hits,
            stop,
        }
    }

    /// `http://ADDR/jwks.json`.
    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// Answers `reply` from now on.
    pub fn set(&self, reply: Reply) {
        *self.reply.lock() = reply;
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer_one(mut conn: TcpStream, reply: &Reply) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let response = match reply {
        Reply::Drop => return,
        Reply::Body(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        }
        Reply::Status(code, location) => {
            let location = location
                .as_ref()
                .map(|l| format!("location: {l}\r\n"))
                .unwrap_or_default();
            format!("HTTP/1.1 {code} Whatever\r\n{location}content-length: 0\r\nconnection: close\r\n\r\n")
                .into_bytes()
        }
    };
    let _ = conn.write_all(&response);
}

/// An HMAC key for a JWKS document: its `kid` and 32-byte secret.
#[derive(Debug, Clone)]
pub struct HmacKey {
    /// The key's `kid`.
    pub kid: String,
    /// The secret.
    pub secret: Vec<u8>,
}

impl HmacKey {
    /// A key named `kid` with a secret derived from it.
    pub fn new(kid: &str) -> Self {
        let mut secret = format!("secret-of-{kid}-").into_bytes();
        secret.resize(40, b'x');
        Self {
            kid: kid.to_owned(),
            secret,
        }
    }

    /// The key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({ "kty": "oct", "kid": self.kid, "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(&self.secret) })
    }

    /// `claims` signed HS256 with this key, header `kid` this key's.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(Header::new(Algorithm::HS256), claims)
    }

    /// `claims` signed with this key under `header` (its `kid` is set to
    /// this key's).
    pub fn sign_with(&self, mut header: Header, claims: &Value) -> String {
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&self.secret))
            .expect("token encodes")
    }
}

/// A JWKS document of `keys`.
pub fn document(keys: &[&HmacKey]) -> Vec<u8> {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
        .to_string()
        .into_bytes()
}
