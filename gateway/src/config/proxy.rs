//! The application-backend flags turned into a [`ProxyConfig`]: URLs
//! checked (http only, no credentials in them), bounds kept finite.

use std::time::Duration;

use super::ConfigError;
use super::args::GatewayArgs;
use crate::proxy::ProxyConfig;

/// Most handshake headers `--proxy-headers` may name.
const MAX_HEADERS: usize = 32;

fn invalid(option: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option: option.to_owned(),
        message: message.into(),
    }
}

fn url(option: &str, value: Option<&String>) -> Result<Option<reqwest::Url>, ConfigError> {
    let Some(value) = value.map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = reqwest::Url::parse(value).map_err(|e| invalid(option, format!("not a URL: {e}")))?;
    if url.scheme() != "http" {
        return Err(invalid(
            option,
            "must be an http:// URL (put TLS in a sidecar or on the same host)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(option, "names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            option,
            "must not carry credentials; use --proxy-secret",
        ));
    }
    Ok(Some(url))
}

impl GatewayArgs {
    /// `--trusted-proxies` as ranges.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a bad entry or more than 64.
    pub(super) fn trusted_proxies(
        &self,
    ) -> Result<Vec<crate::server::per_ip::IpRange>, ConfigError> {
        let entries: Vec<&str> = self
            .trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if entries.len() > 64 {
            return Err(invalid("--trusted-proxies", "at most 64 entries"));
        }
        entries
            .into_iter()
            .map(|e| {
                crate::server::per_ip::IpRange::parse(e)
                    .map_err(|m| invalid("--trusted-proxies", m))
            })
            .collect()
    }

    /// The backend URLs and bounds.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first unacceptable option.
    pub(super) fn proxy_config(&self) -> Result<ProxyConfig, ConfigError> {
        let connect_url = url("--connect-proxy", self.connect_proxy.as_ref())?;
        let event_url = url("--socketio-event-proxy", self.socketio_event_proxy.as_ref())?;
        if !(1..=60_000).contains(&self.proxy_timeout_ms) {
            return Err(invalid("--proxy-timeout-ms", "must be between 1 and 60000"));
        }
        if !(1..=100_000).contains(&self.proxy_max_in_flight) {
            return Err(invalid(
                "--proxy-max-in-flight",
                "must be between 1 and 100000",
            ));
        }
        if !(1..=1_024).contains(&self.proxy_max_in_flight_per_session) {
            return Err(invalid(
                "--proxy-max-in-flight-per-session",
                "must be between 1 and 1024",
            ));
        }
        if !(1_024..=64 * 1_048_576).contains(&self.proxy_max_reply_bytes) {
            return Err(invalid(
                "--proxy-max-reply-bytes",
                "must be between 1024 and 67108864",
            ));
        }
        let secret = match &self.proxy_secret {
            Some(s) if !(16..=512).contains(&s.len()) => {
                return Err(invalid("--proxy-secret", "must be 16 to 512 bytes"));
            }
            Some(s) if s.bytes().any(|b| !b.is_ascii_graphic()) => {
                return Err(invalid(
                    "--proxy-secret",
                    "must be printable ASCII without spaces (it is an HTTP header value)",
                ));
            }
            other => other.clone(),
        };
        let names: Vec<&str> = self
            .proxy_headers
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect();
        if names.len() > MAX_HEADERS {
            return Err(invalid(
                "--proxy-headers",
                format!("at most {MAX_HEADERS} names"),
            ));
        }
        let headers = names
            .into_iter()
            .map(|h| {
                reqwest::header::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                    .map_err(|_| invalid("--proxy-headers", format!("{h:?} is not a header name")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProxyConfig {
            headers,
            connect_url,
            event_url,
            timeout: Duration::from_millis(self.proxy_timeout_ms),
            max_in_flight: self.proxy_max_in_flight,
            max_in_flight_per_session: self.proxy_max_in_flight_per_session,
            max_reply_bytes: self.proxy_max_reply_bytes,
            secret,
        })
    }
}
