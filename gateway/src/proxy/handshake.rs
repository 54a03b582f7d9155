//! What a connect request tells the backend about the client's handshake:
//! the headers `--proxy-headers` names and the remote address. Captured
//! once per session, and only when a connect proxy is configured.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// The client's address, put on every request by the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Longest header value passed on; a longer one is left out (and logged).
pub const MAX_HEADER_VALUE: usize = 8192;

/// A session's handshake, for its connect requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handshake {
    /// The named headers present, by lower-case name; a header sent
    /// several times has its values joined with `, ` (cookies with `; `).
    pub headers: Map<String, Value>,
    /// `ip:port` of the peer.
    pub remote_addr: Option<String>,
}

impl Handshake {
    /// Picks `names` out of `headers`. Values that are not visible ASCII
    /// or longer than [`MAX_HEADER_VALUE`] are left out.
    pub fn capture(
        names: &[reqwest::header::HeaderName],
        headers: &HeaderMap,
        peer: Option<PeerAddr>,
    ) -> Self {
        let mut picked = Map::new();
        for name in names {
            let values: Vec<&str> = headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if values.is_empty() {
                continue;
            }
            let joined = values.join(if name == "cookie" { "; " } else { ", " });
            if joined.len() > MAX_HEADER_VALUE {
                tracing::debug!(header = %name, "header too long for the connect proxy; left out");
                continue;
            }
            picked.insert(name.as_str().to_owned(), Value::String(joined));
        }
        Self {
            headers: picked,
            remote_addr: peer.map(|p| p.0.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_named_headers_go_and_repeats_are_joined() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("cookie", HeaderValue::from_static("b=2"));
        h.append("authorization", HeaderValue::from_static("secret"));
        h.append("user-agent", HeaderValue::from_bytes(b"bad\xff").unwrap());
        let names = ["cookie", "user-agent"].map(reqwest::header::HeaderName::from_static);
        let peer = PeerAddr("127.0.0.1:5000".parse().unwrap());
        let got = Handshake::capture(&names, &h, Some(peer));
        assert_eq!(got.headers.len(), 1, "{got:?}");
        assert_eq!(got.headers["cookie"], "a=1; b=2");
        assert_eq!(got.remote_addr.as_deref(), Some("127.0.0.1:5000"));
        let long = "x".repeat(MAX_HEADER_VALUE + 1);
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_str(&long).unwrap());
        assert!(Handshake::capture(&names, &h, None).headers.is_empty());
    }
}
