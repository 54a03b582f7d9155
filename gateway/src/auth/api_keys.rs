//! API keys for the publish API, each with a set of scopes.
//!
//! Keys are kept as SHA-256 digests and a presented key is compared with
//! every stored digest in constant time, so neither the comparison nor the
//! number of keys tried leaks where a guess went wrong.

use std::fmt;
use std::str::FromStr;

use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

/// The shortest API key accepted, in bytes.
pub const MIN_API_KEY_BYTES: usize = 16;

/// The longest API key accepted (configured or presented), in bytes.
pub const MAX_API_KEY_BYTES: usize = 512;

/// The most API keys one [`ApiKeys`] holds.
pub const MAX_API_KEYS: usize = 64;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Publish to rooms.
    Publish,
    /// Emit Socket.IO events.
    Emit,
    /// Disconnect clients.
    Disconnect,
    /// Read state (rooms, presence, history).
    Read,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Self::Publish, Self::Emit, Self::Disconnect, Self::Read];

    /// The scope's name in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Emit => "emit",
            Self::Disconnect => "disconnect",
            Self::Read => "read",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Publish => 1,
            Self::Emit => 2,
            Self::Disconnect => 4,
            Self::Read => 8,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ApiKeyConfigError;
    fn from_str(s: &str) -> Result<Self, ApiKeyConfigError> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| ApiKeyConfigError::UnknownScope(s.to_owned()))
    }
}

/// Why a request's API key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    /// No key, or a key that matches none: HTTP 401.
    #[error("missing or unknown API key")]
    Unauthorized,
    /// A valid key without the scope the request needs: HTTP 403.
    #[error("API key lacks the {0} scope")]
    Forbidden(Scope),
}

impl ApiKeyError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            Self::Unauthorized => axum::http::StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => axum::http::StatusCode::FORBIDDEN,
        }
    }
}

/// Why configured API keys could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyConfigError {
    /// A key shorter than [`MIN_API_KEY_BYTES`] or longer than
    /// [`MAX_API_KEY_BYTES`].
    #[error("API key is {0} bytes; keys must be {MIN_API_KEY_BYTES} to {MAX_API_KEY_BYTES} bytes")]
    BadLength(usize),
    /// A key with no scope at all.
    #[error("API key has no scope")]
    NoScope,
    /// A scope name that is not `publish`, `emit`, `disconnect` or `read`.
    #[error("unknown API key scope {0:?}; scopes are publish, emit, disconnect, read")]
    UnknownScope(String),
    /// More than [`MAX_API_KEYS`] keys.
    #[error("{0} API keys; the limit is {MAX_API_KEYS}")]
    TooMany(usize),
}

/// One configured key: its digest and its scopes.
#[derive(Clone)]
pub struct ApiKey {
    digest: [u8; 32],
    scopes: u8,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| self.has(*s))
            .map(Scope::as_str)
            .collect();
        f.debug_struct("ApiKey")
            .field("scopes", &scopes)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key with `secret` and `scopes`.
    ///
    /// # Errors
    /// [`ApiKeyConfigError::BadLength`] or [`ApiKeyConfigError::NoScope`].
    pub fn new(secret: &str, scopes: &[Scope]) -> Result<Self, ApiKeyConfigError> {
        if !(MIN_API_KEY_BYTES..=MAX_API_KEY_BYTES).contains(&secret.len()) {
            return Err(ApiKeyConfigError::BadLength(secret.len()));
        }
        if scopes.is_empty() {
            return Err(ApiKeyConfigError::NoScope);
        }
        Ok(Self {
            digest: sha256(secret),
            scopes: scopes.iter().fold(0, |acc, s| acc | s.bit()),
        })
    }

    /// Whether the key has `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes & scope.bit() != 0
    }
}

fn sha256(s: &str) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, s.as_bytes()).as_ref());
    out
}

/// The configured API keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl ApiKeys {
    /// A set of `keys`.
    ///
    /// # Errors
    /// [`ApiKeyConfigError::TooMany`] past [`MAX_API_KEYS`].
    pub fn new(keys: Vec<ApiKey>) -> Result<Self, ApiKeyConfigError> {
        if keys.len() > MAX_API_KEYS {
            return Err(ApiKeyConfigError::TooMany(keys.len()));
        }
        Ok(Self { keys })
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the key a request `presented` for the scope it `needed`.
    ///
    /// Every stored digest is compared, in constant time, whatever the
    /// outcome.
    ///
    /// # Errors
    /// [`ApiKeyError::Unauthorized`] for a missing or unknown key,
    /// [`ApiKeyError::Forbidden`] for a known key without `needed`.
    pub fn check(&self, presented: Option<&str>, needed: Scope) -> Result<(), ApiKeyError> {
        let presented = presented
            .filter(|p| p.len() <= MAX_API_KEY_BYTES)
            .ok_or(ApiKeyError::Unauthorized)?;
        let digest = sha256(presented);
        let mut scopes = 0u8;
        let mut found = subtle::Choice::from(0);
        for key in &self.keys {
            let hit = key.digest.ct_eq(&digest);
            found |= hit;
            // Keep the scopes of the matching key without branching on it.
            scopes |= key.scopes & 0u8.wrapping_sub(hit.unwrap_u8());
        }
        if !bool::from(found) {
            return Err(ApiKeyError::Unauthorized);
        }
        if scopes & needed.bit() == 0 {
            return Err(ApiKeyError::Forbidden(needed));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = "publisher-key-0123456789";
    const ADMIN: &str = "admin-key-0123456789abcdef";

    fn keys() -> ApiKeys {
        ApiKeys::new(vec![
            ApiKey::new(PUB, &[Scope::Publish, Scope::Emit]).expect("valid"),
            ApiKey::new(ADMIN, &Scope::ALL).expect("valid"),
        ])
        .expect("valid")
    }

    #[test]
    fn right_key_with_scope_passes() {
        let k = keys();
        assert_eq!(k.check(Some(PUB), Scope::Publish), Ok(()));
        assert_eq!(k.check(Some(PUB), Scope::Emit), Ok(()));
        for s in Scope::ALL {
            assert_eq!(k.check(Some(ADMIN), s), Ok(()));
        }
    }

    #[test]
    fn missing_or_wrong_key_is_unauthorized() {
        let k = keys();
        assert_eq!(
            k.check(None, Scope::Publish),
            Err(ApiKeyError::Unauthorized)
        );
        assert_eq!(
            k.check(Some(""), Scope::Publish),
            Err(ApiKeyError::Unauthorized)
        );
        let near = &PUB[..PUB.len() - 1];
        assert_eq!(
            k.check(Some(near), Scope::Publish),
            Err(ApiKeyError::Unauthorized)
        );
        let longer = format!("{PUB}x");
        assert_eq!(
            k.check(Some(&longer), Scope::Publish),
            Err(ApiKeyError::Unauthorized)
        );
        let huge = "a".repeat(MAX_API_KEY_BYTES + 1);
        assert_eq!(
            k.check(Some(&huge), Scope::Read),
            Err(ApiKeyError::Unauthorized)
        );
        assert_eq!(
            ApiKeys::default().check(Some(PUB), Scope::Publish),
            Err(ApiKeyError::Unauthorized)
        );
        assert_eq!(ApiKeyError::Unauthorized.status().as_u16(), 401);
    }

    #[test]
    fn key_without_scope_is_forbidden() {
        let k = keys();
        let err = k.check(Some(PUB), Scope::Disconnect).expect_err("no scope");
        assert_eq!(err, ApiKeyError::Forbidden(Scope::Disconnect));
        assert_eq!(err.status().as_u16(), 403);
        assert_eq!(
            k.check(Some(PUB), Scope::Read),
            Err(ApiKeyError::Forbidden(Scope::Read))
        );
    }

    #[test]
    fn config_is_validated() {
        assert_eq!(
            ApiKey::new("short", &[Scope::Read]).err(),
            Some(ApiKeyConfigError::BadLength(5))
        );
        assert_eq!(
            ApiKey::new(PUB, &[]).err(),
            Some(ApiKeyConfigError::NoScope)
        );
        assert_eq!("emit".parse::<Scope>(), Ok(Scope::Emit));
        assert!(matches!(
            "admin".parse::<Scope>(),
            Err(ApiKeyConfigError::UnknownScope(_))
        ));
        let many = vec![ApiKey::new(PUB, &[Scope::Read]).expect("valid"); MAX_API_KEYS + 1];
        assert_eq!(
            ApiKeys::new(many).err(),
            Some(ApiKeyConfigError::TooMany(MAX_API_KEYS + 1))
        );
    }

    #[test]
    fn debug_does_not_print_the_digest() {
        let shown = format!("{:?}", keys());
        assert!(shown.contains("publish"));
        assert!(!shown.contains("digest"));
    }
}
