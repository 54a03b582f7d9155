//! The router's own Redis keys, one hash tag per scope so each scope's keys
//! share a cluster slot.

/// Key names of one scope.
#[derive(Debug, Clone)]
pub struct ScopeKeys {
    /// Hash: `token` (resume token hex), `invalidate` (0/1), `at_ms`.
    pub checkpoint: String,
    /// String: the leader's router id, with a TTL (the lease).
    pub lease: String,
    /// Counter: the fencing token, incremented at each acquisition.
    pub fence: String,
}

impl ScopeKeys {
    /// Keys of `scope` under `prefix` (`herald`).
    pub fn new(prefix: &str, scope: &str) -> Self {
        Self {
            checkpoint: format!("{prefix}:router:{{{scope}}}:checkpoint"),
            lease: format!("{prefix}:router:{{{scope}}}:lease"),
            fence: format!("{prefix}:router:{{{scope}}}:fence"),
        }
    }
}
