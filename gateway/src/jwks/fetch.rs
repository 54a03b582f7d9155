//! One fetch of the JWKS document.

use std::time::Duration;

use crate::auth::keys::{KeySet, MAX_JWKS_BYTES};
use crate::auth::store::{InstallError, KeyStore};
use crate::metrics::names;

/// Why a fetch brought no new keys. The last good keys stay in use.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS or reading failed.
    #[error("cannot reach the JWKS URL: {0}")]
    Unreachable(String),
    /// A status other than 200 (redirects are not followed).
    #[error("the JWKS URL answered HTTP {0}")]
    Status(u16),
    /// The body is over the 64 KiB JWKS limit.
    #[error("the JWKS document is over {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// Not a JWKS document Herald accepts.
    #[error("the JWKS document is refused: {0}")]
    Invalid(String),
}

impl JwksError {
    /// Every [`JwksError::code`], for the metric's fixed label values
    /// (with `ok`).
    pub const CODES: [&'static str; 5] =
        ["timeout", "unreachable", "status", "too_large", "invalid"];

    /// A short, fixed name for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_) => "status",
            Self::TooLarge => "too_large",
            Self::Invalid(_) => "invalid",
        }
    }
}

impl From<InstallError> for JwksError {
    fn from(e: InstallError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Fetches one URL's document with a client of its own: no redirects, no
/// environment proxy, a timeout on the whole exchange.
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
}

impl Fetcher {
    /// A fetcher for `url`, each fetch bounded by `timeout`.
    ///
    /// # Errors
    /// [`JwksError::Unreachable`] if the HTTP client cannot be built.
    pub fn new(url: reqwest::Url, timeout: Duration) -> Result<Self, JwksError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .use_rustls_tls()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| JwksError::Unreachable(e.to_string()))?;
        Ok(Self { http, url, timeout })
    }

    /// The document's bytes, at most [`MAX_JWKS_BYTES`].
    ///
    /// # Errors
    /// [`JwksError`] other than `Invalid`.
    pub async fn fetch_bytes(&self) -> Result<Vec<u8>, JwksError> {
        let timeout = self.timeout;
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                JwksError::Timeout(timeout)
            } else {
                JwksError::Unreachable(e.to_string())
            }
        };
        let exchange = async {
            let mut response = self
                .http
                .get(self.url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(failed)?;
            let status = response.status();
            if status != reqwest::StatusCode::OK {
                return Err(JwksError::Status(status.as_u16()));
            }
            if response
                .content_length()
                .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
            {
                return Err(JwksError::TooLarge);
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if bytes.len() + chunk.len() > MAX_JWKS_BYTES {
                    return Err(JwksError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(JwksError::Timeout(timeout)),
        }
    }

    /// Fetches the document and installs its keys in `store`, counting
    /// the outcome in `herald_gateway_jwks_fetches_total`. Returns how
    /// many URL keys are in use.
    ///
    /// # Errors
    /// [`JwksError`]; `store` then keeps its keys.
    pub async fn refresh(&self, store: &KeyStore) -> Result<usize, JwksError> {
        let result: Result<usize, JwksError> = async {
            let bytes = self.fetch_bytes().await?;
            let set = KeySet::from_jwks(&bytes).map_err(|e| JwksError::Invalid(e.to_string()))?;
            Ok(store.install_remote(&set)?)
        }
        .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        metrics::counter!(names::JWKS_FETCHES, "outcome" => outcome).increment(1);
        result
    }
}

/// Registers `herald_gateway_jwks_fetches_total` at 0 for every outcome.
pub fn register_metrics() {
    for outcome in std::iter::once("ok").chain(JwksError::CODES) {
        metrics::counter!(names::JWKS_FETCHES, "outcome" => outcome).increment(0);
    }
}
