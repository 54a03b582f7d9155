//! The node's HTTP client for the application backend.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use herald_protocol::backend::{
    ConnectReply, ConnectRequest, EventReply, EventRequest, decode_reply,
};

/// Where the backend is and how far the gateway waits for it.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// `--connect-proxy`: asked for each Socket.IO CONNECT.
    pub connect_url: Option<reqwest::Url>,
    /// `--socketio-event-proxy`: asked for each unhandled client event.
    pub event_url: Option<reqwest::Url>,
    /// `--proxy-timeout-ms`: a request not answered by then fails.
    pub timeout: Duration,
    /// `--proxy-max-in-flight`: requests waiting across the node.
    pub max_in_flight: usize,
    /// `--proxy-max-in-flight-per-session`: events one session may have
    /// waiting; more are refused at once with `backend_busy`.
    pub max_in_flight_per_session: usize,
    /// `--proxy-max-reply-bytes`: a longer reply fails.
    pub max_reply_bytes: usize,
    /// `--proxy-secret`: sent as `Authorization: Bearer …`, so the backend
    /// can tell the gateway's requests from anyone else's.
    pub secret: Option<String>,
    /// `--proxy-headers`: the handshake headers a connect request carries.
    pub headers: Vec<reqwest::header::HeaderName>,
}

impl ProxyConfig {
    /// Whether any proxy is configured.
    pub fn enabled(&self) -> bool {
        self.connect_url.is_some() || self.event_url.is_some()
    }
}

/// Why a backend request failed. Each is answered to the client as
/// `backend_failed` (110) or `backend_busy` (111), and counted under
/// [`ProxyError::code`].
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The node-wide bound was reached.
    #[error("too many requests are waiting for the application backend")]
    Busy,
    /// No answer within the timeout.
    #[error("the application backend did not answer within {0:?}")]
    Timeout(Duration),
    /// Connecting or sending failed.
    #[error("cannot reach the application backend: {0}")]
    Unreachable(String),
    /// A status other than 2xx.
    #[error("the application backend answered HTTP {0}")]
    Status(u16),
    /// More than the reply limit.
    #[error("the application backend's reply is over {0} bytes")]
    TooLarge(usize),
    /// Not JSON of the documented shape.
    #[error("the application backend's reply is not valid: {0}")]
    Invalid(String),
}

impl ProxyError {
    /// Every [`ProxyError::code`], for metrics registered at start.
    pub const CODES: [&'static str; 6] = [
        "busy",
        "timeout",
        "unreachable",
        "status",
        "too_large",
        "invalid",
    ];

    /// The error code clients get: 111 `backend_busy` for a full bound,
    /// 110 `backend_failed` for the rest.
    pub fn error_code(&self) -> herald_protocol::native::ErrorCode {
        use herald_protocol::native::ErrorCode;
        match self {
            Self::Busy => ErrorCode::BackendBusy,
            _ => ErrorCode::BackendFailed,
        }
    }

    /// A short, fixed name for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_) => "status",
            Self::TooLarge(_) => "too_large",
            Self::Invalid(_) => "invalid",
        }
    }
}

/// The node's backend client: one connection pool, one in-flight bound.
#[derive(Debug)]
pub struct Backend {
    config: Arc<ProxyConfig>,
    http: reqwest::Client,
    in_flight: Arc<Semaphore>,
}

impl Backend {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`ProxyError::Unreachable`] if the HTTP client cannot be built.
    pub fn new(config: ProxyConfig) -> Result<Self, ProxyError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ProxyError::Unreachable(e.to_string()))?;
        Ok(Self {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            config: Arc::new(config),
            http,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Requests waiting for the backend now, across the node.
    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight - self.in_flight.available_permits()
    }

    /// Takes a place under the node-wide bound, without waiting.
    ///
    /// # Errors
    /// [`ProxyError::Busy`] when every place is taken.
    pub fn reserve(&self) -> Result<Slot, ProxyError> {
        self.in_flight
            .clone()
            .try_acquire_owned()
            .map(|permit| Slot {
                _permit: permit,
                http: self.http.clone(),
                config: self.config.clone(),
            })
            .map_err(|_| ProxyError::Busy)
    }
}

/// A reserved place under the node-wide bound; the request it makes owns
/// it until its answer is in.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    http: reqwest::Client,
    config: Arc<ProxyConfig>,
}

impl Slot {
    /// Asks `--connect-proxy` about a CONNECT. A future that owns what it
    /// needs: the session awaits it beside its other work.
    pub fn connect(
        self,
        request: &ConnectRequest<'_>,
    ) -> impl std::future::Future<Output = Result<ConnectReply, ProxyError>> + Send + 'static {
        let url = self.config.connect_url.clone();
        self.post(url, "connect", serde_json::to_vec(request))
    }

    /// Asks `--socketio-event-proxy` about a client event.
    pub fn event(
        self,
        request: &EventRequest<'_>,
    ) -> impl std::future::Future<Output = Result<EventReply, ProxyError>> + Send + 'static {
        let url = self.config.event_url.clone();
        self.post(url, "event", serde_json::to_vec(request))
    }

    async fn post<T: DeserializeOwned>(
        self,
        url: Option<reqwest::Url>,
        kind: &'static str,
        body: serde_json::Result<Vec<u8>>,
    ) -> Result<T, ProxyError> {
        let url = url.ok_or_else(|| ProxyError::Unreachable(format!("no {kind} proxy")))?;
        let body = body.map_err(|e| ProxyError::Invalid(e.to_string()))?;
        let timeout = self.config.timeout;
        let limit = self.config.max_reply_bytes;
        let exchange = async {
            let mut request = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            if let Some(secret) = &self.config.secret {
                request = request.bearer_auth(secret);
            }
            let mut response = request.send().await.map_err(|e| unreachable(&e, timeout))?;
            let status = response.status();
            if !status.is_success() {
                return Err(ProxyError::Status(status.as_u16()));
            }
            if response.content_length().is_some_and(|n| n > limit as u64) {
                return Err(ProxyError::TooLarge(limit));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| unreachable(&e, timeout))?
            {
                if bytes.len() + chunk.len() > limit {
                    return Err(ProxyError::TooLarge(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            decode_reply(&bytes).map_err(|e| ProxyError::Invalid(e.0))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ProxyError::Timeout(timeout)),
        }
    }
}

fn unreachable(e: &reqwest::Error, timeout: Duration) -> ProxyError {
    if e.is_timeout() {
        ProxyError::Timeout(timeout)
    } else {
        ProxyError::Unreachable(e.to_string())
    }
}
