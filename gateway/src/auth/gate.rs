//! The node's access policy, and one connection's standing under it.
//!
//! [`Gate`] is built once from the configuration: which keys verify
//! tokens, the claim rules, and what an anonymous connection may do.
//! [`Access`] is a session's grant: what it may subscribe to and publish
//! to, the rooms subscription tokens opened, and when it must be closed
//! (no token in time, or its token's expiry). Every transport holds one
//! `Access` and asks it before each subscribe and publish.

use std::collections::HashSet;
use std::time::Duration;

use herald_protocol::native::CloseCode;
use herald_protocol::{RoomName, RoomPatterns};
use tokio::time::Instant;

use super::error::AuthError;
use super::keys::KeySet;
use super::permissions::Permissions;
use super::store::KeyStore;
use super::token::{self, Rules};

/// The default time a connection has to authenticate when it must.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Most rooms subscription tokens may open on one connection.
pub const MAX_TOKEN_ROOMS: usize = 1024;

/// What an anonymous connection may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anonymous {
    /// Everything (`--standalone`, or `--public-rooms '*'`).
    Open,
    /// Subscribe to (and, with client publish on, publish to) these rooms.
    Public(RoomPatterns),
}

/// The node's access policy.
#[derive(Debug, Clone)]
pub struct Gate {
    keys: Option<std::sync::Arc<KeyStore>>,
    rules: Rules,
    anonymous: Anonymous,
    auth_timeout: Duration,
}

impl Gate {
    /// A policy that lets every connection do everything and verifies no
    /// token (a standalone node with no keys).
    pub fn open() -> Self {
        Self::new(
            None,
            Rules::default(),
            Anonymous::Open,
            DEFAULT_AUTH_TIMEOUT,
        )
    }

    /// A policy: `keys` verify connection and subscription tokens (none:
    /// a token is refused with [`AuthError::NoKeys`]), `rules` check their
    /// claims, `anonymous` is what a connection without a token may do,
    /// and `auth_timeout` is how long a connection may wait before sending
    /// a token when anonymous connections may do nothing.
    pub fn new(
        keys: Option<KeySet>,
        rules: Rules,
        anonymous: Anonymous,
        auth_timeout: Duration,
    ) -> Self {
        Self::with_store(
            keys.map(|k| std::sync::Arc::new(KeyStore::fixed(k))),
            rules,
            anonymous,
            auth_timeout,
        )
    }

    /// Like [`Gate::new`], with keys that may change while the node runs
    /// (`--jwt-jwks-url`): `store` is shared with the task that fetches
    /// them.
    pub fn with_store(
        keys: Option<std::sync::Arc<KeyStore>>,
        rules: Rules,
        anonymous: Anonymous,
        auth_timeout: Duration,
    ) -> Self {
        Self {
            keys,
            rules,
            anonymous,
            auth_timeout,
        }
    }

    /// Whether tokens are verified at all.
    pub fn verifies_tokens(&self) -> bool {
        self.keys.is_some()
    }

    /// Whether a connection must send a token within
    /// [`auth_timeout`](Self::auth_timeout) or be closed (4009): tokens
    /// are verified and an anonymous connection may subscribe to nothing.
    pub fn needs_token(&self) -> bool {
        self.keys.is_some() && matches!(&self.anonymous, Anonymous::Public(p) if p.is_empty())
    }

    /// How long a connection that [needs a token](Self::needs_token) has.
    pub fn auth_timeout(&self) -> Duration {
        self.auth_timeout
    }

    /// Whether the `user` a Socket.IO client names in its CONNECT `auth`
    /// is taken as the session's user: only when no token is verified,
    /// since a token's `sub` is then the only trusted name.
    pub fn trusts_client_user(&self) -> bool {
        self.keys.is_none()
    }

    /// What an anonymous connection is granted.
    pub fn anonymous(&self) -> Permissions {
        match &self.anonymous {
            Anonymous::Open => Permissions::open(),
            Anonymous::Public(rooms) => Permissions {
                user: None,
                rooms: rooms.clone(),
                publish: rooms.clone(),
                expires: None,
            },
        }
    }

    /// The grant of a connection token.
    ///
    /// # Errors
    /// [`AuthError::NoKeys`] when no key is configured, else what
    /// [`token::verify`] refuses.
    pub fn verify(&self, token: &str) -> Result<Permissions, AuthError> {
        let store = self.keys.as_ref().ok_or(AuthError::NoKeys)?;
        token::verify(token, &store.current(), &self.rules, now_unix())
            .map(Permissions::from_claims)
            .map_err(|e| unavailable(store, e))
    }

    /// The node's key store, when tokens are verified.
    pub fn key_store(&self) -> Option<&std::sync::Arc<KeyStore>> {
        self.keys.as_ref()
    }

    /// Call before verifying `token` (in any form): when its `kid` is
    /// unknown and keys come from `--jwt-jwks-url`, waits for one refetch,
    /// rate-limited by the cool-down (`KeyStore::await_kid`). Returns at
    /// once for known kids, fixed keys, and tokens that do not parse
    /// (verification then refuses them).
    pub async fn settle(&self, token: &str) {
        let Some(store) = self.keys.as_ref().filter(|s| s.has_url()) else {
            return;
        };
        if token.len() > self.rules.max_token_bytes {
            return;
        }
        if let Ok(header) = jsonwebtoken::decode_header(token) {
            store.await_kid(header.kid.as_deref()).await;
        }
    }

    /// The room a subscription token opens for a connection of `user`.
    ///
    /// # Errors
    /// [`AuthError::NoKeys`] when no key is configured, else what
    /// [`token::verify_subscription`] refuses.
    pub fn verify_subscription(
        &self,
        token: &str,
        user: Option<&str>,
    ) -> Result<RoomName, AuthError> {
        let store = self.keys.as_ref().ok_or(AuthError::NoKeys)?;
        token::verify_subscription(token, &store.current(), &self.rules, now_unix(), user)
            .map_err(|e| unavailable(store, e))
    }

    /// One line for the start-up log: what anonymous connections may do.
    pub fn describe(&self) -> String {
        let tokens = if self.keys.is_some() {
            "tokens verified"
        } else {
            "no token keys"
        };
        match &self.anonymous {
            Anonymous::Open => format!("{tokens}; anonymous connections may use every room"),
            Anonymous::Public(p) if p.is_empty() && self.keys.is_some() => format!(
                "{tokens}; anonymous connections may use no room and must authenticate within {} ms",
                self.auth_timeout.as_millis()
            ),
            Anonymous::Public(p) if p.is_empty() => format!(
                "{tokens}; anonymous access is limited to --public-rooms, which is empty: no room can be read"
            ),
            Anonymous::Public(p) => {
                let list: Vec<String> = p.patterns().iter().map(ToString::to_string).collect();
                format!(
                    "{tokens}; anonymous access is limited to --public-rooms {}",
                    list.join(",")
                )
            }
        }
    }

    /// Whether anonymous connections may use every room.
    pub fn is_open(&self) -> bool {
        self.anonymous == Anonymous::Open
    }
}

/// A token refused for its key while the URL keys have not arrived yet
/// is [`AuthError::KeysUnavailable`]: it may pass once they do.
fn unavailable(store: &KeyStore, e: AuthError) -> AuthError {
    match e {
        AuthError::UnknownKey | AuthError::KidRequired if store.waiting_for_url() => {
            AuthError::KeysUnavailable
        }
        e => e,
    }
}

/// Seconds since the Unix epoch, by the wall clock tokens are dated by.
fn now_unix() -> u64 {
    herald_service::clock::unix_ms() / 1000
}

/// Why a subscribe or publish was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The connection has not authenticated yet and must (error 108).
    NotAuthenticated,
    /// The grant does not cover the room (error 105).
    Room(RoomName),
    /// A subscription token was refused (error 108).
    Token(AuthError),
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAuthenticated => f.write_str("authenticate first: send an auth frame"),
            Self::Room(room) => write!(f, "this connection may not use room {room}"),
            Self::Token(e) => write!(f, "subscription token refused: {e}"),
        }
    }
}

/// One connection's standing: its grant, if any yet, the rooms
/// subscription tokens opened, and its deadline.
#[derive(Debug)]
pub struct Access {
    grant: Option<Permissions>,
    token_rooms: HashSet<RoomName>,
    /// When a connection that must authenticate runs out of time.
    auth_deadline: Option<Instant>,
    /// When the grant's token expires (its `exp` plus the leeway).
    expires_at: Option<Instant>,
    leeway: Duration,
}

impl Access {
    /// The standing of a new connection that sent `token` with its
    /// handshake (a URL parameter, Socket.IO's `auth.token`), or none.
    ///
    /// On a gate with no keys a handshake token is ignored and the
    /// connection is anonymous: Socket.IO apps often put a token of their
    /// own in `auth`, and the reference server accepts any payload. (An
    /// explicit `auth` or `refresh` op is refused with
    /// [`AuthError::NoKeys`] instead, by [`Access::authenticate`].)
    ///
    /// # Errors
    /// The token's refusal; the connection must be closed with
    /// [`close_code`] of it.
    pub fn start(gate: &Gate, token: Option<&str>) -> Result<Self, AuthError> {
        let token = token.filter(|_| gate.verifies_tokens());
        let mut access = Self {
            grant: None,
            token_rooms: HashSet::new(),
            auth_deadline: None,
            expires_at: None,
            leeway: Duration::from_secs(gate.rules.leeway_secs),
        };
        match token {
            Some(t) => {
                access.accept(gate.verify(t)?);
            }
            None if gate.needs_token() => {
                access.auth_deadline = Some(Instant::now() + gate.auth_timeout);
            }
            None => access.grant = Some(gate.anonymous()),
        }
        Ok(access)
    }

    /// Takes a connection token sent after the handshake: the first one
    /// (`auth`) or a replacement (`refresh`), which must keep the user.
    /// Returns the new grant.
    ///
    /// # Errors
    /// The token's refusal, or [`AuthError::UserChanged`]; the standing is
    /// then unchanged.
    pub fn authenticate(&mut self, gate: &Gate, token: &str) -> Result<&Permissions, AuthError> {
        let grant = gate.verify(token)?;
        if let Some(old) = &self.grant
            && old.user.is_some()
            && old.user != grant.user
        {
            return Err(AuthError::UserChanged);
        }
        Ok(self.accept(grant))
    }

    fn accept(&mut self, grant: Permissions) -> &Permissions {
        self.auth_deadline = None;
        self.expires_at = grant.expires.map(|exp| {
            let left = exp.saturating_sub(now_unix());
            Instant::now() + Duration::from_secs(left) + self.leeway
        });
        self.grant.insert(grant)
    }

    /// Replaces the grant with one the application backend gave (the
    /// connect proxy's `rooms`, `publish`, `expires`); its expiry then
    /// closes the connection as a token's would.
    pub fn grant(&mut self, grant: Permissions) {
        self.token_rooms.clear();
        self.accept(grant);
    }

    /// Names the user of a grant that has none (the connect proxy's
    /// `user` without a grant of its own); a token's user is kept.
    pub fn name_user(&mut self, user: String) {
        if let Some(grant) = self.grant.as_mut()
            && grant.user.is_none()
        {
            grant.user = Some(user);
        }
    }

    /// Whether the connection holds a grant (anonymous or from a token).
    pub fn is_authenticated(&self) -> bool {
        self.grant.is_some()
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        self.grant.as_ref().and_then(|g| g.user.as_deref())
    }

    /// When the connection's token expires, in seconds since the epoch.
    pub fn expires(&self) -> Option<u64> {
        self.grant.as_ref().and_then(|g| g.expires)
    }

    /// Checks a subscribe to `room`, with the subscription token the
    /// client sent for it, if any.
    ///
    /// # Errors
    /// [`Denied`], with the error code the transport answers.
    pub fn check_subscribe(
        &mut self,
        gate: &Gate,
        room: &RoomName,
        token: Option<&str>,
    ) -> Result<(), Denied> {
        let grant = self.grant.as_ref().ok_or(Denied::NotAuthenticated)?;
        if grant.may_subscribe(room) || self.token_rooms.contains(room) {
            return Ok(());
        }
        let Some(token) = token else {
            return Err(Denied::Room(room.clone()));
        };
        let opened = gate
            .verify_subscription(token, grant.user.as_deref())
            .map_err(Denied::Token)?;
        if &opened != room {
            return Err(Denied::Room(room.clone()));
        }
        if self.token_rooms.len() < MAX_TOKEN_ROOMS {
            self.token_rooms.insert(opened);
        }
        Ok(())
    }

    /// Checks a client publish to `room`.
    ///
    /// # Errors
    /// [`Denied`], with the error code the transport answers.
    pub fn check_publish(&self, room: &RoomName) -> Result<(), Denied> {
        let grant = self.grant.as_ref().ok_or(Denied::NotAuthenticated)?;
        if grant.may_publish(room) {
            Ok(())
        } else {
            Err(Denied::Room(room.clone()))
        }
    }

    /// Whether the connection may still hold `room` (after a refresh
    /// narrowed its grant).
    pub fn may_hold(&self, room: &RoomName) -> bool {
        self.grant
            .as_ref()
            .is_some_and(|g| g.may_subscribe(room) || self.token_rooms.contains(room))
    }

    /// When the connection must be closed, and with which code: the auth
    /// timeout (4009) or the token's expiry (4007).
    pub fn deadline(&self) -> Option<(Instant, CloseCode)> {
        match (self.auth_deadline, self.expires_at) {
            (Some(at), _) => Some((at, CloseCode::AuthTimeout)),
            (None, Some(at)) => Some((at, CloseCode::TokenExpired)),
            (None, None) => None,
        }
    }
}

/// The close code for a token refused at connect: 4007 when a fresh token
/// would pass, 4011 (`backend_unavailable`, reconnect after a backoff)
/// while the `--jwt-jwks-url` keys have not arrived, 4008 when the client
/// must not retry with it.
pub fn close_code(e: &AuthError) -> CloseCode {
    match e.class() {
        super::ErrorClass::Expired => CloseCode::TokenExpired,
        super::ErrorClass::Unavailable => CloseCode::BackendFailed,
        super::ErrorClass::Invalid => CloseCode::TokenInvalid,
    }
}
