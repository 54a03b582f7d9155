//! The access flags (`--jwt-*`, `--public-rooms`, `--auth-timeout-ms`)
//! turned into the node's [`Gate`]: keys read and pinned, rules checked,
//! the anonymous policy chosen; and the admin API's keys (`--api-key`,
//! `--api-scoped-key`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use herald_protocol::RoomPatterns;

use super::ConfigError;
use super::args::GatewayArgs;
use crate::auth::token::Rules;
use crate::auth::{
    Algorithm, Anonymous, ApiKey, ApiKeys, Gate, KeyError, KeySet, KeyStore, Scope, VerifyKey,
};
use crate::jwks::JwksUrlConfig;

/// The largest key file read (a JWKS document has its own, smaller limit).
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

fn invalid(option: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option: option.to_owned(),
        message: message.into(),
    }
}

fn read_key_file(option: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let len = std::fs::metadata(path)
        .map_err(|e| invalid(option, format!("cannot read {}: {e}", path.display())))?
        .len();
    if len > MAX_KEY_FILE_BYTES {
        return Err(invalid(
            option,
            format!(
                "{} is {len} bytes; the limit is {MAX_KEY_FILE_BYTES}",
                path.display()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| invalid(option, format!("cannot read {}: {e}", path.display())))
}

impl GatewayArgs {
    /// The keys, rules and anonymous policy the access flags describe.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first unacceptable option.
    pub(super) fn auth_gate(&self) -> Result<Gate, ConfigError> {
        let keys = self.key_store()?;
        if self.jwt_leeway_secs > 600 {
            return Err(invalid("--jwt-leeway-secs", "must be at most 600"));
        }
        if !(256..=65_536).contains(&self.jwt_max_bytes) {
            return Err(invalid("--jwt-max-bytes", "must be between 256 and 65536"));
        }
        if self.auth_timeout_ms == 0 || self.auth_timeout_ms > 60_000 {
            return Err(invalid("--auth-timeout-ms", "must be between 1 and 60000"));
        }
        for (option, list) in [
            ("--jwt-issuer", &self.jwt_issuer),
            ("--jwt-audience", &self.jwt_audience),
        ] {
            if list.iter().any(String::is_empty) {
                return Err(invalid(option, "must not hold an empty value"));
            }
        }
        let rules = Rules {
            issuers: self.jwt_issuer.clone(),
            audiences: self.jwt_audience.clone(),
            leeway_secs: self.jwt_leeway_secs,
            max_token_bytes: self.jwt_max_bytes,
            require_exp: true,
        };
        let patterns: Vec<&str> = self
            .public_rooms
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        let anonymous = match patterns.as_slice() {
            ["*"] => Anonymous::Open,
            [] if self.standalone => Anonymous::Open,
            list => Anonymous::Public(
                RoomPatterns::parse(list).map_err(|e| invalid("--public-rooms", e.to_string()))?,
            ),
        };
        Ok(Gate::with_store(
            keys,
            rules,
            anonymous,
            Duration::from_millis(self.auth_timeout_ms),
        ))
    }

    /// `--jwt-jwks-url` and its bounds, when set.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a URL that is not http(s), names no
    /// host or carries credentials, and for bounds out of range.
    pub(super) fn jwks_url(&self) -> Result<Option<JwksUrlConfig>, ConfigError> {
        let Some(value) = self
            .jwt_jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        let option = "--jwt-jwks-url";
        let url =
            reqwest::Url::parse(value).map_err(|e| invalid(option, format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(option, "must be an http:// or https:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(option, "names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(option, "must not carry credentials"));
        }
        if !(10..=86_400).contains(&self.jwt_jwks_refresh_secs) {
            return Err(invalid(
                "--jwt-jwks-refresh-secs",
                "must be between 10 and 86400",
            ));
        }
        if !(1..=3_600).contains(&self.jwt_jwks_cooldown_secs) {
            return Err(invalid(
                "--jwt-jwks-cooldown-secs",
                "must be between 1 and 3600",
            ));
        }
        if !(100..=60_000).contains(&self.jwt_jwks_timeout_ms) {
            return Err(invalid(
                "--jwt-jwks-timeout-ms",
                "must be between 100 and 60000",
            ));
        }
        Ok(Some(JwksUrlConfig {
            url,
            refresh: Duration::from_secs(self.jwt_jwks_refresh_secs),
            cooldown: Duration::from_secs(self.jwt_jwks_cooldown_secs),
            timeout: Duration::from_millis(self.jwt_jwks_timeout_ms),
        }))
    }

    /// The node's keys: the configured ones, joined by the URL's when
    /// `--jwt-jwks-url` is set; `None` when there is neither.
    fn key_store(&self) -> Result<Option<Arc<KeyStore>>, ConfigError> {
        let configured = self.token_keys()?;
        let Some(url) = self.jwks_url()? else {
            return Ok(configured.map(|k| Arc::new(KeyStore::fixed(k))));
        };
        let keys = configured.map(|k| k.keys().to_vec()).unwrap_or_default();
        // A token waits for a fetch it triggered at most the fetch's bound.
        let wait = url.timeout + Duration::from_millis(500);
        KeyStore::with_url(keys, url.cooldown, wait)
            .map(|s| Some(Arc::new(s)))
            .map_err(|e| match e {
                KeyError::MissingKid => invalid(
                    "--jwt-jwks-url",
                    "every configured key needs a kid beside it (--jwt-hmac-kid, --jwt-public-key-kid, kids in --jwt-jwks-file)",
                ),
                e => invalid("--jwt-jwks-url", e.to_string()),
            })
    }

    /// Every configured verification key, or `None` when there is none.
    fn token_keys(&self) -> Result<Option<KeySet>, ConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &self.jwt_hmac_secret {
            let alg = Algorithm::from_name(&self.jwt_hmac_alg)
                .filter(|a| a.is_hmac())
                .ok_or_else(|| invalid("--jwt-hmac-alg", "must be HS256, HS384 or HS512"))?;
            let key = VerifyKey::hmac(self.jwt_hmac_kid.clone(), alg, secret.as_bytes())
                .map_err(|e| invalid("--jwt-hmac-secret", e.to_string()))?;
            keys.push(key);
        } else if self.jwt_hmac_kid.is_some() {
            return Err(invalid("--jwt-hmac-kid", "needs --jwt-hmac-secret"));
        }
        match (&self.jwt_public_key_file, &self.jwt_public_key_alg) {
            (Some(path), Some(alg)) => {
                let alg = Algorithm::from_name(alg)
                    .filter(|a| !a.is_hmac())
                    .ok_or_else(|| {
                        invalid("--jwt-public-key-alg", "must be RS256, ES256 or EdDSA")
                    })?;
                let pem = read_key_file("--jwt-public-key-file", path)?;
                let key = VerifyKey::from_pem(self.jwt_public_key_kid.clone(), alg, &pem)
                    .map_err(|e| invalid("--jwt-public-key-file", e.to_string()))?;
                keys.push(key);
            }
            (Some(_), None) => {
                return Err(invalid(
                    "--jwt-public-key-alg",
                    "is required with --jwt-public-key-file (RS256, ES256 or EdDSA)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "--jwt-public-key-alg",
                    "needs --jwt-public-key-file",
                ));
            }
            (None, None) => {}
        }
        if let Some(path) = &self.jwt_jwks_file {
            let doc = read_key_file("--jwt-jwks-file", path)?;
            let set =
                KeySet::from_jwks(&doc).map_err(|e| invalid("--jwt-jwks-file", e.to_string()))?;
            if set.is_empty() {
                return Err(invalid("--jwt-jwks-file", "holds no usable signing key"));
            }
            keys.extend(set.keys().iter().cloned());
        }
        if keys.is_empty() {
            return Ok(None);
        }
        KeySet::new(keys)
            .map(Some)
            .map_err(|e| invalid("--jwt-hmac-kid", format!("the configured keys: {e}")))
    }
}

impl GatewayArgs {
    /// The admin API's keys: `--api-key` with every scope, plus each
    /// `--api-scoped-key SCOPES:KEY`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a key of the wrong length, an unknown
    /// scope, or no key at all on an admin listener off loopback (an open
    /// API there would let anyone publish and disconnect).
    pub(super) fn api_keys(&self) -> Result<ApiKeys, ConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &self.api_key {
            keys.push(
                ApiKey::new(secret, &Scope::ALL)
                    .map_err(|e| invalid("--api-key", e.to_string()))?,
            );
        }
        for entry in self.api_scoped_key.iter().filter(|e| !e.is_empty()) {
            let Some((scopes, secret)) = entry.split_once(':') else {
                return Err(invalid(
                    "--api-scoped-key",
                    "must be SCOPES:KEY, e.g. publish+read:KEY",
                ));
            };
            let scopes: Vec<Scope> = scopes
                .split('+')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|e: crate::auth::api_keys::ApiKeyConfigError| {
                    invalid("--api-scoped-key", e.to_string())
                })?;
            keys.push(
                ApiKey::new(secret, &scopes)
                    .map_err(|e| invalid("--api-scoped-key", e.to_string()))?,
            );
        }
        let keys = ApiKeys::new(keys).map_err(|e| invalid("--api-scoped-key", e.to_string()))?;
        if keys.is_empty() && !self.admin_listen.ip().is_loopback() {
            return Err(invalid(
                "--api-key",
                format!(
                    "is required when the admin listener ({}) is not on loopback: without a key anyone who reaches it may publish and disconnect",
                    self.admin_listen
                ),
            ));
        }
        if keys.is_empty() && self.metrics_require_key {
            return Err(invalid(
                "--metrics-require-key",
                "needs --api-key or an --api-scoped-key with the read scope",
            ));
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use herald_service::config::{ParseOutcome, parse_args};

    use super::*;

    fn gate(args: &[&str]) -> Result<Gate, ConfigError> {
        let args: Result<GatewayArgs, ParseOutcome> = parse_args(
            std::iter::once("herald-gateway")
                .chain(args.iter().copied())
                .map(Into::into),
        );
        args.map_err(|_| invalid("argv", "does not parse"))?
            .auth_gate()
    }

    const REDIS: [&str; 2] = ["--redis-url", "redis://127.0.0.1:1"];
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn standalone_is_open_and_redis_opens_nothing_by_default() {
        assert!(gate(&["--standalone"]).unwrap().is_open());
        let closed = gate(&REDIS).unwrap();
        assert!(!closed.is_open());
        assert!(closed.anonymous().rooms.is_empty());
        assert!(!closed.needs_token(), "no key: nobody can authenticate");
        let star = gate(&[&REDIS[..], &["--public-rooms", "*"]].concat()).unwrap();
        assert!(star.is_open());
        let secured = gate(&[&REDIS[..], &["--jwt-hmac-secret", SECRET]].concat()).unwrap();
        assert!(secured.needs_token());
        assert!(secured.verifies_tokens());
    }

    #[test]
    fn bad_access_options_name_themselves() {
        let jwks = std::env::temp_dir().join(format!("herald-jwks-{}.json", std::process::id()));
        std::fs::write(&jwks, "{\"keys\": 5}").unwrap();
        let jwks = jwks.display().to_string();
        for (extra, option) in [
            (vec!["--jwt-hmac-secret", "short"], "--jwt-hmac-secret"),
            (
                vec!["--jwt-hmac-secret", SECRET, "--jwt-hmac-alg", "RS256"],
                "--jwt-hmac-alg",
            ),
            (vec!["--jwt-hmac-kid", "k"], "--jwt-hmac-kid"),
            (
                vec![
                    "--jwt-public-key-file",
                    "/nonexistent.pem",
                    "--jwt-public-key-alg",
                    "RS256",
                ],
                "--jwt-public-key-file",
            ),
            (
                vec!["--jwt-public-key-file", "/nonexistent.pem"],
                "--jwt-public-key-alg",
            ),
            (vec!["--jwt-jwks-file", jwks.as_str()], "--jwt-jwks-file"),
            (vec!["--public-rooms", "news*"], "--public-rooms"),
            (vec!["--jwt-leeway-secs", "601"], "--jwt-leeway-secs"),
            (vec!["--jwt-max-bytes", "10"], "--jwt-max-bytes"),
            (vec!["--auth-timeout-ms", "0"], "--auth-timeout-ms"),
            (vec!["--jwt-issuer", ""], "--jwt-issuer"),
        ] {
            let e = gate(&[&REDIS[..], &extra].concat()).unwrap_err();
            assert!(e.to_string().contains(option), "{extra:?}: {e}");
        }
    }

    #[test]
    fn two_keys_need_kids() {
        let pem = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/auth/rsa_public.pem"
        );
        let both = [
            "--jwt-hmac-secret",
            SECRET,
            "--jwt-public-key-file",
            pem,
            "--jwt-public-key-alg",
            "RS256",
        ];
        assert!(gate(&[&REDIS[..], &both].concat()).is_err());
        let kids = ["--jwt-hmac-kid", "hs", "--jwt-public-key-kid", "rsa"];
        assert!(gate(&[&REDIS[..], &both, &kids].concat()).is_ok());
    }
}
