//! Server configuration.

use std::net::SocketAddr;

/// Configuration for [`crate::MongoWireServer::start`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind. Default `127.0.0.1:0` (an ephemeral port).
    pub bind: SocketAddr,
    /// Replica set name reported by `hello` (`setName`). Default `rs0`.
    pub set_name: String,
    /// Oplog entries retained; older resume tokens fail with 286
    /// ChangeStreamHistoryLost. Default 100 000.
    pub oplog_capacity: usize,
    /// Concurrent client connections; further connections are closed on accept.
    /// Default 1024.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            set_name: "rs0".to_owned(),
            oplog_capacity: 100_000,
            max_connections: 1024,
        }
    }
}
