//! Verification keys, each pinned to one algorithm, and the set a token's
//! `kid` selects from.
//!
//! Pinning is what stops algorithm confusion: a key loaded as RS256 is only
//! ever used to check RS256 signatures, so a token that says `HS256` (and
//! was "signed" with the RSA public key as an HMAC secret) is refused before
//! any signature is checked, and `alg: none` never parses at all.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::error::AuthError;

/// The largest JWKS document [`KeySet::from_jwks`] reads, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The most keys one [`KeySet`] holds.
pub const MAX_KEYS: usize = 64;

/// The longest `kid`, in bytes.
pub const MAX_KID_BYTES: usize = 256;

/// The signature algorithms Herald accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256 (shared secret).
    HS256,
    /// HMAC with SHA-384 (shared secret).
    HS384,
    /// HMAC with SHA-512 (shared secret).
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA public key).
    RS256,
    /// ECDSA on P-256 with SHA-256 (EC public key).
    ES256,
    /// Ed25519 (EdDSA public key).
    EdDSA,
}

impl Algorithm {
    /// The name as a JWT header spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JWT `alg` name; `None` for anything Herald does not accept.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            "EdDSA" => Self::EdDSA,
            _ => return None,
        })
    }

    /// Whether this is one of the HMAC (shared-secret) algorithms.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::HS256 => jsonwebtoken::Algorithm::HS256,
            Self::HS384 => jsonwebtoken::Algorithm::HS384,
            Self::HS512 => jsonwebtoken::Algorithm::HS512,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key or key set could not be loaded (a configuration error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// [`VerifyKey::hmac`] given a public-key algorithm, or
    /// [`VerifyKey::from_pem`] given an HMAC one.
    #[error("{alg} does not take this kind of key")]
    WrongKind {
        /// The algorithm asked for.
        alg: Algorithm,
    },
    /// An HMAC secret shorter than [`MIN_HMAC_SECRET_BYTES`].
    #[error("HMAC secret is {0} bytes; at least {MIN_HMAC_SECRET_BYTES} are required")]
    ShortSecret(usize),
    /// The PEM or JWK does not hold a usable key of the algorithm's type.
    #[error("key {kid:?} is not a valid {alg} key: {reason}")]
    BadKey {
        /// The key's `kid`, if any.
        kid: Option<String>,
        /// The algorithm it was to be pinned to.
        alg: Algorithm,
        /// What the decoder said.
        reason: String,
    },
    /// Two keys share a `kid`.
    #[error("two keys have kid {0:?}")]
    DuplicateKid(String),
    /// A key without a `kid` in a set of several: it could never be chosen.
    #[error("a key without a kid is allowed only when it is the only key")]
    MissingKid,
    /// A `kid` longer than [`MAX_KID_BYTES`].
    #[error("kid is {0} bytes; the limit is {MAX_KID_BYTES}")]
    LongKid(usize),
    /// More than [`MAX_KEYS`] keys.
    #[error("{0} keys; the limit is {MAX_KEYS}")]
    TooManyKeys(usize),
    /// The JWKS document is larger than [`MAX_JWKS_BYTES`].
    #[error("JWKS document is {0} bytes; the limit is {MAX_JWKS_BYTES}")]
    JwksTooLarge(usize),
    /// The JWKS document is not JSON of the expected shape.
    #[error("JWKS document is malformed: {0}")]
    JwksMalformed(String),
    /// A JWK's `alg` and `kty`/`crv` disagree, or it has no `alg` and
    /// none can be inferred (an `oct` key).
    #[error("JWK {kid:?}: {reason}")]
    JwkAlgorithm {
        /// The key's `kid`, if any.
        kid: Option<String>,
        /// What is inconsistent.
        reason: String,
    },
}

/// The shortest HMAC secret accepted: 256 bits.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// One verification key and the one algorithm it checks.
#[derive(Clone)]
pub struct VerifyKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// An HMAC key (`HS256`, `HS384` or `HS512`) from its secret bytes.
    ///
    /// # Errors
    /// [`KeyError::WrongKind`] for a public-key algorithm,
    /// [`KeyError::ShortSecret`] under [`MIN_HMAC_SECRET_BYTES`].
    pub fn hmac(kid: Option<String>, alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        if !alg.is_hmac() {
            return Err(KeyError::WrongKind { alg });
        }
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(KeyError::ShortSecret(secret.len()));
        }
        check_kid(kid.as_deref())?;
        Ok(Self {
            kid,
            alg,
            key: DecodingKey::from_secret(secret),
        })
    }

    /// A public key (`RS256`, `ES256` or `EdDSA`) from PEM bytes
    /// (`BEGIN PUBLIC KEY`; `BEGIN RSA PUBLIC KEY` for RS256).
    ///
    /// # Errors
    /// [`KeyError::WrongKind`] for an HMAC algorithm, [`KeyError::BadKey`]
    /// when the PEM holds no key of the algorithm's type.
    pub fn from_pem(kid: Option<String>, alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid.as_deref())?;
        let key = match alg {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
            Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                return Err(KeyError::WrongKind { alg });
            }
        };
        let key = key.map_err(|e| KeyError::BadKey {
            kid: kid.clone(),
            alg,
            reason: e.to_string(),
        })?;
        Ok(Self { kid, alg, key })
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

fn check_kid(kid: Option<&str>) -> Result<(), KeyError> {
    match kid {
        Some(k) if k.len() > MAX_KID_BYTES => Err(KeyError::LongKid(k.len())),
        _ => Ok(()),
    }
}

/// The keys tokens may be signed with, chosen by the token's `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
}

impl KeySet {
    /// A set of `keys`.
    ///
    /// # Errors
    /// [`KeyError::DuplicateKid`], [`KeyError::TooManyKeys`], or
    /// [`KeyError::MissingKid`] when a key without a `kid` is not alone.
    pub fn new(keys: Vec<VerifyKey>) -> Result<Self, KeyError> {
        if keys.len() > MAX_KEYS {
            return Err(KeyError::TooManyKeys(keys.len()));
        }
        if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
            return Err(KeyError::MissingKid);
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = &key.kid
                && keys[..i].iter().any(|k| k.kid.as_ref() == Some(kid))
            {
                return Err(KeyError::DuplicateKid(kid.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// A set of one public key read from PEM bytes.
    ///
    /// # Errors
    /// As [`VerifyKey::from_pem`].
    pub fn from_pem(kid: Option<String>, alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        Self::new(vec![VerifyKey::from_pem(kid, alg, pem)?])
    }

    /// The signing keys of a JWKS document (`{"keys": [...]}`).
    ///
    /// Each key is pinned to its `alg`; without one, RSA keys are RS256,
    /// EC P-256 keys ES256 and OKP Ed25519 keys EdDSA (an `oct` key must
    /// name its `alg`). Keys marked `"use": "enc"` and keys of algorithms
    /// Herald does not accept are skipped, not errors, so a provider's
    /// document with extra keys still loads.
    ///
    /// # Errors
    /// [`KeyError::JwksTooLarge`] past [`MAX_JWKS_BYTES`] (before parsing),
    /// [`KeyError::JwksMalformed`], and the errors of [`KeySet::new`] and
    /// of each key.
    pub fn from_jwks(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(KeyError::JwksTooLarge(bytes.len()));
        }
        let doc: JwksDoc =
            serde_json::from_slice(bytes).map_err(|e| KeyError::JwksMalformed(e.to_string()))?;
        if doc.keys.len() > MAX_KEYS {
            return Err(KeyError::TooManyKeys(doc.keys.len()));
        }
        let mut keys = Vec::with_capacity(doc.keys.len());
        for jwk in &doc.keys {
            if let Some(key) = jwk.to_key()? {
                keys.push(key);
            }
        }
        Self::new(keys)
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[VerifyKey] {
        &self.keys
    }

    /// Whether the set holds no key (every token is refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token whose header carries `kid`.
    ///
    /// # Errors
    /// [`AuthError::UnknownKey`] when no key has that `kid` (or the set is
    /// empty), [`AuthError::KidRequired`] when the token has no `kid` and
    /// the set holds more than one key.
    pub fn select(&self, kid: Option<&str>) -> Result<&VerifyKey, AuthError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(AuthError::UnknownKey),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                [] => Err(AuthError::UnknownKey),
                _ => Err(AuthError::KidRequired),
            },
        }
    }
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

impl Jwk {
    /// The key, `None` when it is one to skip.
    fn to_key(&self) -> Result<Option<VerifyKey>, KeyError> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        let inferred = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => Some(Algorithm::RS256),
            ("EC", Some("P-256")) => Some(Algorithm::ES256),
            ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
            _ => None,
        };
        let alg = match self.alg.as_deref() {
            Some(name) => match Algorithm::from_name(name) {
                Some(alg) => alg,
                None => return Ok(None),
            },
            None => match inferred {
                Some(alg) => alg,
                None if self.kty == "oct" => {
                    return Err(self.alg_error("an oct key must name its alg"));
                }
                None => return Ok(None),
            },
        };
        let fits = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => self.kty == "oct",
            other => inferred == Some(other),
        };
        if !fits {
            return Err(self.alg_error(&format!(
                "alg {alg} does not fit kty {:?} crv {:?}",
                self.kty, self.crv
            )));
        }
        check_kid(self.kid.as_deref())?;
        let missing = |field: &str| self.bad(alg, format!("missing {field}"));
        let key = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let k = self.k.as_deref().ok_or_else(|| missing("k"))?;
                let secret = URL_SAFE_NO_PAD
                    .decode(k)
                    .map_err(|e| self.bad(alg, e.to_string()))?;
                return VerifyKey::hmac(self.kid.clone(), alg, &secret).map(Some);
            }
            Algorithm::RS256 => DecodingKey::from_rsa_components(
                self.n.as_deref().ok_or_else(|| missing("n"))?,
                self.e.as_deref().ok_or_else(|| missing("e"))?,
            ),
            Algorithm::ES256 => DecodingKey::from_ec_components(
                self.x.as_deref().ok_or_else(|| missing("x"))?,
                self.y.as_deref().ok_or_else(|| missing("y"))?,
            ),
            Algorithm::EdDSA => {
                DecodingKey::from_ed_components(self.x.as_deref().ok_or_else(|| missing("x"))?)
            }
        }
        .map_err(|e| self.bad(alg, e.to_string()))?;
        Ok(Some(VerifyKey {
            kid: self.kid.clone(),
            alg,
            key,
        }))
    }

    fn bad(&self, alg: Algorithm, reason: String) -> KeyError {
        KeyError::BadKey {
            kid: self.kid.clone(),
            alg,
            reason,
        }
    }

    fn alg_error(&self, reason: &str) -> KeyError {
        KeyError::JwkAlgorithm {
            kid: self.kid.clone(),
            reason: reason.to_owned(),
        }
    }
}
