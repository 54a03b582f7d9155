//! Leadership per scope: a Redis lease (`SET NX PX`, renewed by a
//! compare-and-pexpire script) plus a fencing token (`INCR`) taken at each
//! acquisition. Publications and checkpoints carry the token, so a leader
//! that lost its lease without noticing is rejected by Redis.

use std::time::Duration;

use herald_bus::redis::conn::Conn;
use redis::Script;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::keys::ScopeKeys;

/// Takes the lease if free (or already ours, after a restart with the same
/// id) and returns a new fence; 0 when someone else holds it.
const ACQUIRE_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
";

/// Extends the lease if it is still ours.
const RENEW_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lease if it is still ours.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Talks to Redis about one scope's lease.
#[derive(Clone)]
pub struct LeaseClient {
    /// Command connection.
    conn: Conn,
    /// The scope's keys.
    keys: ScopeKeys,
    /// This router's id.
    id: String,
    /// Lease length.
    ttl: Duration,
    /// Where renewal tasks run (the router's tracker, awaited at shutdown).
    tasks: TaskTracker,
}

/// A held lease. `lost` is cancelled when it could not be renewed.
pub struct Lease {
    /// The fencing token of this tenure.
    pub fence: u64,
    /// Cancelled when the lease is lost (or released).
    pub lost: CancellationToken,
    /// The renewal task.
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.lost.cancel();
        self.task.abort();
    }
}

impl LeaseClient {
    /// A client for the scope whose keys are `keys`; renewal tasks run on `tasks`.
    pub fn new(conn: Conn, keys: ScopeKeys, id: String, ttl: Duration, tasks: TaskTracker) -> Self {
        Self {
            conn,
            keys,
            id,
            ttl,
            tasks,
        }
    }

    async fn eval(&self, lua: &str, with_fence: bool) -> Result<i64, redis::RedisError> {
        let mut c = self.conn.clone();
        let script = Script::new(lua);
        let mut inv = script.key(&self.keys.lease);
        if with_fence {
            inv.key(&self.keys.fence);
        }
        inv.arg(&self.id).arg(self.ttl.as_millis().to_string());
        match tokio::time::timeout(self.ttl / 2, inv.invoke_async(&mut c)).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "lease command timed out",
            ))),
        }
    }

    /// Tries once to take the lease.
    ///
    /// # Errors
    /// Redis errors.
    /// `parent` cancelling (shutdown) also ends the tenure.
    pub async fn try_acquire(
        &self,
        parent: &CancellationToken,
    ) -> Result<Option<Lease>, redis::RedisError> {
        let fence = self.eval(ACQUIRE_LUA, true).await?;
        if fence <= 0 {
            return Ok(None);
        }
        let lost = parent.child_token();
        let task = self.tasks.spawn(renew_loop(self.clone(), lost.clone()));
        Ok(Some(Lease {
            fence: fence.unsigned_abs(),
            lost,
            task,
        }))
    }

    /// Gives the lease up (if still ours) so a standby takes over at once.
    pub async fn release(&self) {
        if let Err(e) = self.eval(RELEASE_LUA, false).await {
            tracing::debug!(error = %e, "lease release failed; it will expire");
        }
    }
}

/// Renews every third of the lease; declares it lost when Redis says it is
/// not ours, or when no renewal succeeded for most of a lease period.
async fn renew_loop(client: LeaseClient, lost: CancellationToken) {
    let period = client.ttl / 3;
    let mut last_ok = Instant::now();
    loop {
        tokio::select! {
            () = lost.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        match client.eval(RENEW_LUA, false).await {
            Ok(1) => last_ok = Instant::now(),
            Ok(_) => {
                tracing::warn!(key = %client.keys.lease, "lease taken by another router");
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease renewal failed");
                if last_ok.elapsed() >= client.ttl.mul_f64(0.8) {
                    lost.cancel();
                    return;
                }
            }
        }
    }
}
