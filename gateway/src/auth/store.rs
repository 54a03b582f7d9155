//! The keys a [`Gate`](super::Gate) verifies with: those from the
//! configuration, plus, with `--jwt-jwks-url`, the ones last fetched from
//! it.
//!
//! How the two combine:
//! - a URL key must carry a `kid` (a key without one is skipped: it could
//!   never be chosen among several);
//! - a URL key whose `kid` a configured key has refuses the whole
//!   document (the configured keys are never shadowed);
//! - together they are at most [`MAX_KEYS`](super::keys::MAX_KEYS);
//! - a refused document, like a failed fetch, keeps the last good keys.
//!
//! A token whose `kid` is in neither set may ask for one refetch
//! ([`KeyStore::await_kid`]); at most one such request starts a fetch per
//! cool-down, so tokens cannot be used to hammer the URL. The fetching
//! itself is `crate::jwks`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::keys::{KeyError, KeySet, VerifyKey};

/// The node's verification keys. See the module docs.
#[derive(Debug)]
pub struct KeyStore {
    /// The keys from `--jwt-hmac-*`, `--jwt-public-key-*`, `--jwt-jwks-file`.
    configured: Vec<VerifyKey>,
    /// The configured keys plus the last good URL keys.
    current: RwLock<Arc<KeySet>>,
    /// The URL's side, when there is a URL.
    remote: Option<Remote>,
}

/// What the store keeps about the URL.
#[derive(Debug)]
struct Remote {
    /// The least time between two fetches tokens trigger.
    cooldown: Duration,
    /// How long a token waits for a fetch it triggered or joined.
    wait: Duration,
    /// When tokens last triggered a fetch, whether one is under way, and
    /// whether URL keys ever arrived.
    state: Mutex<RemoteState>,
    /// Wakes the fetch task for a token-triggered fetch.
    wanted: Notify,
    /// Counts finished fetch attempts; waiting tokens watch it.
    attempts: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct RemoteState {
    last_triggered: Option<Instant>,
    in_flight: bool,
    loaded: bool,
}

/// Why [`KeyStore::install_remote`] refused a document's keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// No key in the document has a `kid` and an accepted algorithm.
    #[error("the JWKS document holds no usable signing key with a kid")]
    NoUsableKey,
    /// A URL key has the `kid` of a configured key.
    #[error("the JWKS document's key {0:?} has the kid of a configured key")]
    ShadowsConfigured(String),
    /// The combined set is not acceptable (too many keys, …).
    #[error("{0}")]
    Keys(#[from] KeyError),
}

impl KeyStore {
    /// A store of fixed keys (no URL).
    pub fn fixed(keys: KeySet) -> Self {
        Self {
            configured: keys.keys().to_vec(),
            current: RwLock::new(Arc::new(keys)),
            remote: None,
        }
    }

    /// A store of `configured` keys that URL keys will join. A token
    /// that triggers a fetch waits up to `wait` for it; tokens trigger at
    /// most one fetch per `cooldown`.
    ///
    /// # Errors
    /// [`KeyError::MissingKid`] when a configured key has no `kid` (URL
    /// keys would make it unselectable), and the errors of [`KeySet::new`].
    pub fn with_url(
        configured: Vec<VerifyKey>,
        cooldown: Duration,
        wait: Duration,
    ) -> Result<Self, KeyError> {
        if configured.iter().any(|k| k.kid().is_none()) {
            return Err(KeyError::MissingKid);
        }
        let set = KeySet::new(configured.clone())?;
        Ok(Self {
            configured,
            current: RwLock::new(Arc::new(set)),
            remote: Some(Remote {
                cooldown,
                wait,
                state: Mutex::new(RemoteState::default()),
                wanted: Notify::new(),
                attempts: watch::Sender::new(0),
            }),
        })
    }

    /// The keys to verify with now.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().clone()
    }

    /// Whether keys also come from a URL.
    pub fn has_url(&self) -> bool {
        self.remote.is_some()
    }

    /// Whether the URL's keys are still missing: there is a URL and no
    /// document from it was ever accepted.
    pub fn waiting_for_url(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| !r.state.lock().loaded)
    }

    /// Replaces the URL keys with `fetched`'s (see the module docs for
    /// how they combine). Returns how many URL keys are in use.
    ///
    /// # Errors
    /// [`InstallError`]; the keys in use are then unchanged.
    pub fn install_remote(&self, fetched: &KeySet) -> Result<usize, InstallError> {
        let url_keys: Vec<VerifyKey> = fetched
            .keys()
            .iter()
            .filter(|k| k.kid().is_some())
            .cloned()
            .collect();
        if url_keys.is_empty() {
            return Err(InstallError::NoUsableKey);
        }
        if let Some(k) = url_keys
            .iter()
            .find(|k| self.configured.iter().any(|c| c.kid() == k.kid()))
        {
            return Err(InstallError::ShadowsConfigured(
                k.kid().unwrap_or_default().to_owned(),
            ));
        }
        let n = url_keys.len();
        let mut all = self.configured.clone();
        all.extend(url_keys);
        let set = KeySet::new(all)?;
        *self.current.write() = Arc::new(set);
        if let Some(r) = &self.remote {
            r.state.lock().loaded = true;
        }
        Ok(n)
    }

    /// Marks a fetch attempt finished, good or not: tokens waiting for it
    /// go on, and tokens may trigger another after the cool-down.
    pub fn attempt_finished(&self) {
        if let Some(r) = &self.remote {
            r.state.lock().in_flight = false;
            r.attempts.send_modify(|n| *n += 1);
        }
    }

    /// Resolves when a token asks for a fetch (for the fetch task).
    pub async fn fetch_wanted(&self) {
        match &self.remote {
            Some(r) => r.wanted.notified().await,
            None => std::future::pending().await,
        }
    }

    /// For a token whose header names `kid`: when no key has that `kid`
    /// and keys come from a URL, joins the fetch under way or starts one
    /// (at most one start per cool-down), and waits for it to finish, at
    /// most the store's wait. Returns at once otherwise. The caller then
    /// verifies against [`KeyStore::current`] as usual.
    pub async fn await_kid(&self, kid: Option<&str>) {
        let Some(r) = &self.remote else { return };
        let known = match kid {
            Some(kid) => self.current().select(Some(kid)).is_ok(),
            None => !self.current().is_empty(),
        };
        if known {
            return;
        }
        let mut done = r.attempts.subscribe();
        {
            let mut st = r.state.lock();
            if !st.in_flight {
                let now = Instant::now();
                if st
                    .last_triggered
                    .is_some_and(|at| now.duration_since(at) < r.cooldown)
                {
                    return;
                }
                st.last_triggered = Some(now);
                st.in_flight = true;
                r.wanted.notify_one();
            }
        }
        let _ = tokio::time::timeout(r.wait, done.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Algorithm;

    fn hmac(kid: &str) -> VerifyKey {
        VerifyKey::hmac(Some(kid.into()), Algorithm::HS256, &[7u8; 32]).unwrap()
    }

    fn set(kids: &[&str]) -> KeySet {
        KeySet::new(kids.iter().map(|k| hmac(k)).collect()).unwrap()
    }

    fn store() -> Arc<KeyStore> {
        Arc::new(
            KeyStore::with_url(
                vec![hmac("conf")],
                Duration::from_secs(30),
                Duration::from_secs(5),
            )
            .unwrap(),
        )
    }

    fn kids(s: &KeyStore) -> Vec<String> {
        s.current()
            .keys()
            .iter()
            .filter_map(|k| k.kid().map(str::to_owned))
            .collect()
    }

    #[test]
    fn url_keys_join_the_configured_ones_and_replace_the_last_url_keys() {
        let s = store();
        assert!(s.waiting_for_url());
        assert_eq!(s.install_remote(&set(&["a", "b"])).unwrap(), 2);
        assert!(!s.waiting_for_url());
        assert_eq!(kids(&s), ["conf", "a", "b"]);
        s.install_remote(&set(&["c"])).unwrap();
        assert_eq!(kids(&s), ["conf", "c"]);
    }

    #[test]
    fn a_refused_document_keeps_the_last_good_keys() {
        let s = store();
        s.install_remote(&set(&["a"])).unwrap();
        assert_eq!(
            s.install_remote(&set(&["conf"])),
            Err(InstallError::ShadowsConfigured("conf".into()))
        );
        let no_kid = KeySet::new(vec![
            VerifyKey::hmac(None, Algorithm::HS256, &[1u8; 32]).unwrap(),
        ])
        .unwrap();
        assert_eq!(s.install_remote(&no_kid), Err(InstallError::NoUsableKey));
        let many: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(
            s.install_remote(&set(&many)),
            Err(InstallError::Keys(KeyError::TooManyKeys(65)))
        ));
        assert_eq!(kids(&s), ["conf", "a"]);
    }

    #[test]
    fn configured_keys_need_kids_beside_a_url() {
        let bare = VerifyKey::hmac(None, Algorithm::HS256, &[1u8; 32]).unwrap();
        assert!(matches!(
            KeyStore::with_url(vec![bare], Duration::ZERO, Duration::ZERO),
            Err(KeyError::MissingKid)
        ));
    }

    /// A stand-in for the fetch task: counts fetches, installs `kids`.
    fn fake_fetcher(s: Arc<KeyStore>, kids: &'static [&'static str]) -> Arc<Mutex<u32>> {
        let count = Arc::new(Mutex::new(0));
        let c = count.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "a test's helper task, awaited by the runtime's end"
        )]
        tokio::spawn(async move {
            loop {
                s.fetch_wanted().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                *c.lock() += 1;
                let _ = s.install_remote(&set(kids));
                s.attempt_finished();
            }
        });
        count
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_kid_waits_for_one_fetch_and_then_is_known() {
        let s = store();
        let fetches = fake_fetcher(s.clone(), &["new"]);
        s.await_kid(Some("new")).await;
        assert_eq!(*fetches.lock(), 1);
        assert!(s.current().select(Some("new")).is_ok());
        // Known now: no fetch.
        s.await_kid(Some("new")).await;
        s.await_kid(Some("conf")).await;
        assert_eq!(*fetches.lock(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_kids_trigger_at_most_one_fetch_per_cooldown() {
        let s = store();
        let fetches = fake_fetcher(s.clone(), &["a"]);
        // Many tokens at once join one fetch.
        let waits: Vec<_> = (0..20)
            .map(|i| {
                let s = s.clone();
                async move { s.await_kid(Some(&format!("bogus{i}"))).await }
            })
            .collect();
        futures_util::future::join_all(waits).await;
        assert_eq!(*fetches.lock(), 1);
        // Within the cool-down: refused at once, no fetch.
        let before = Instant::now();
        for i in 0..100 {
            s.await_kid(Some(&format!("again{i}"))).await;
        }
        assert_eq!(Instant::now(), before, "no token waited");
        assert_eq!(*fetches.lock(), 1);
        // After it: one more.
        tokio::time::sleep(Duration::from_secs(31)).await;
        s.await_kid(Some("later")).await;
        assert_eq!(*fetches.lock(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_waits_no_longer_than_the_wait_for_a_fetch_that_hangs() {
        let s = store();
        let started = Instant::now();
        // No fetch task at all: the wait bounds the token.
        s.await_kid(Some("x")).await;
        assert_eq!(Instant::now() - started, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_keys_never_wait() {
        let s = KeyStore::fixed(set(&["a"]));
        let started = Instant::now();
        s.await_kid(Some("zzz")).await;
        assert_eq!(Instant::now(), started);
        assert!(!s.waiting_for_url());
    }
}
