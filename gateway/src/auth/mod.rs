//! Authentication and authorization, as a library the sessions call.
//!
//! Every transport holds one [`Access`] per connection and asks it before
//! each subscribe and publish; the node's [`Gate`] is built from the
//! configuration (`docs/security.md`).
//!
//! # Layout
//! - [`gate`]: the node's policy ([`Gate`]) and a connection's standing
//!   under it ([`Access`]): deadlines, grants, subscription-token rooms.
//! - [`keys`]: verification keys, each pinned to one algorithm; the
//!   [`keys::KeySet`] a token's `kid` selects from (PEM or JWKS).
//! - [`token`]: [`token::verify`] for connection tokens and
//!   [`token::verify_subscription`] for per-room subscription tokens.
//! - [`store`]: the keys in use: configured ones plus those last fetched
//!   from `--jwt-jwks-url`, and the rate-limited refetch an unknown `kid`
//!   may ask for.
//! - [`error`]: [`error::AuthError`], its metric codes and whether the
//!   client may retry.
//! - [`permissions`]: what a connection may subscribe to and publish to.
//! - [`api_keys`]: scoped API keys for the publish API.

pub mod api_keys;
pub mod error;
pub mod gate;
pub mod keys;
pub mod permissions;
pub mod store;
pub mod token;

#[cfg(test)]
mod tests;

pub use api_keys::{ApiKey, ApiKeyError, ApiKeys, Scope};
pub use error::{AuthError, ErrorClass};
pub use gate::{Access, Anonymous, Denied, Gate};
pub use keys::{Algorithm, KeyError, KeySet, VerifyKey};
pub use permissions::Permissions;
pub use store::KeyStore;
pub use token::{Claims, Rules, verify, verify_subscription};
