//! The durable position of a scope: its resume token, in Redis, written only
//! by the holder of the current fencing token.

use std::time::Duration;

use herald_bus::redis::conn::Conn;
use redis::Script;

use crate::keys::ScopeKeys;

/// Upper bound on one checkpoint command.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Writes the checkpoint only if the fence is still the current one.
const SAVE_LUA: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'invalidate', ARGV[3], 'at_ms', ARGV[4])
return 1
";

/// A stored position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The resume token's `_data` hex.
    pub token: String,
    /// The token is an invalidate event's: resume with `startAfter`.
    pub invalidate: bool,
}

/// Why a checkpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Redis failed or timed out.
    #[error("redis: {0}")]
    Redis(String),
    /// Another router holds a newer fence: this one is no longer leader.
    #[error("fenced off: another router leads this scope")]
    Fenced,
}

/// Loads and saves one scope's checkpoint.
#[derive(Clone)]
pub struct CheckpointStore {
    /// Command connection.
    conn: Conn,
    /// The scope's keys.
    keys: ScopeKeys,
    /// The fenced save script.
    save: Script,
}

fn redis_err(e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Redis(e.to_string())
}

impl CheckpointStore {
    /// A store over `conn` for the scope whose keys are `keys`.
    pub fn new(conn: Conn, keys: ScopeKeys) -> Self {
        Self {
            conn,
            keys,
            save: Script::new(SAVE_LUA),
        }
    }

    /// The stored checkpoint, if any.
    ///
    /// # Errors
    /// [`CheckpointError::Redis`].
    pub async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.keys.checkpoint)
            .arg("token")
            .arg("invalidate");
        let q = cmd.query_async::<(Option<String>, Option<String>)>(&mut c);
        let (token, inv) = tokio::time::timeout(TIMEOUT, q)
            .await
            .map_err(|_| CheckpointError::Redis("timed out".into()))?
            .map_err(redis_err)?;
        Ok(token.filter(|t| !t.is_empty()).map(|token| Checkpoint {
            token,
            invalidate: inv.as_deref() == Some("1"),
        }))
    }

    /// Saves `cp` if `fence` is still the scope's current fence.
    ///
    /// # Errors
    /// [`CheckpointError::Fenced`] when another router took over,
    /// [`CheckpointError::Redis`] otherwise.
    pub async fn save(&self, fence: u64, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let mut c = self.conn.clone();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut inv = self.save.key(&self.keys.checkpoint);
        inv.key(&self.keys.fence)
            .arg(fence.to_string())
            .arg(&cp.token)
            .arg(if cp.invalidate { "1" } else { "0" })
            .arg(now_ms.to_string());
        let saved: i64 = tokio::time::timeout(TIMEOUT, inv.invoke_async(&mut c))
            .await
            .map_err(|_| CheckpointError::Redis("timed out".into()))?
            .map_err(redis_err)?;
        if saved == 1 {
            Ok(())
        } else {
            Err(CheckpointError::Fenced)
        }
    }
}
