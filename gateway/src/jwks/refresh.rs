//! The task that keeps the JWKS URL's keys fresh.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::JwksUrlConfig;
use super::fetch::Fetcher;
use crate::auth::store::KeyStore;

/// Fetches once, for the start: logs the outcome and returns whether
/// keys arrived. A gateway whose first fetch fails still starts; tokens
/// that only URL keys could verify are refused with `keys_unavailable`
/// (close 4011, retry later) until a fetch succeeds.
pub async fn first(fetcher: &Fetcher, store: &KeyStore, config: &JwksUrlConfig) -> bool {
    let ok = report(fetcher.refresh(store).await, config);
    store.attempt_finished();
    ok
}

fn report(result: Result<usize, super::fetch::JwksError>, config: &JwksUrlConfig) -> bool {
    match result {
        Ok(keys) => {
            tracing::info!(url = %config.url, keys, "JWKS keys loaded");
            true
        }
        Err(e) => {
            tracing::error!(url = %config.url, error = %e, "JWKS fetch failed; the last good keys stay in use");
            false
        }
    }
}

/// Runs until `stop`: fetches every `config.refresh` (every
/// `config.cooldown` while fetches fail), and when a token with an
/// unknown `kid` asks (the store lets one ask per cool-down).
pub async fn run(
    fetcher: Fetcher,
    store: Arc<KeyStore>,
    config: JwksUrlConfig,
    mut healthy: bool,
    stop: CancellationToken,
) {
    loop {
        let wait = if healthy {
            config.refresh
        } else {
            config.cooldown.min(config.refresh)
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            () = store.fetch_wanted() => {}
        }
        healthy = report(fetcher.refresh(&store).await, &config);
        store.attempt_finished();
    }
}
