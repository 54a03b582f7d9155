//! `--jwt-jwks-url`: verification keys fetched from the token issuer's
//! JWKS document, at start and periodically (`docs/security.md`, "A JWKS
//! URL").
//!
//! The URL comes from the configuration only, never from a token (a
//! `jku` or `x5u` header is ignored). Fetches are bounded: a timeout, the
//! 64 KiB JWKS limit, http or https only, no redirects, no proxy from the
//! environment. A failed fetch or a refused document keeps the last good
//! keys.
//!
//! # Layout
//! - [`fetch`]: one fetch of the document ([`fetch::Fetcher`],
//!   [`fetch::JwksError`] and its metric codes).
//! - [`refresh`]: the task that fetches periodically and when a token's
//!   unknown `kid` asks (`auth::store` decides when it may).

pub mod fetch;
pub mod refresh;

use std::time::Duration;

/// Where the keys are fetched from and how often.
#[derive(Debug, Clone)]
pub struct JwksUrlConfig {
    /// `--jwt-jwks-url`: an `http://` or `https://` URL without credentials.
    pub url: reqwest::Url,
    /// `--jwt-jwks-refresh-secs`: time between periodic fetches.
    pub refresh: Duration,
    /// `--jwt-jwks-cooldown-secs`: least time between token-triggered
    /// fetches, and the retry delay while fetches fail.
    pub cooldown: Duration,
    /// `--jwt-jwks-timeout-ms`: the bound on one fetch.
    pub timeout: Duration,
}
