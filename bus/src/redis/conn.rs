//! Connections: one shared command connection, and dedicated reader connections.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use super::config::RedisBusConfig;

/// The command connection: multiplexed, shared by every caller, reconnecting.
#[derive(Clone)]
pub enum Conn {
    /// Standalone Redis through a reconnecting connection manager.
    Single(ConnectionManager),
    /// Redis Cluster; the client follows `MOVED` and `ASK`.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// A reader's own connection, used for blocking `XREAD` and nothing else.
pub enum ReaderConn {
    /// A plain multiplexed connection to a standalone server.
    Single(MultiplexedConnection),
    /// A cluster connection of its own (blocking would stall a shared one).
    Cluster(ClusterConnection),
}

impl ConnectionLike for ReaderConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Makes `ring` the process's rustls crypto provider, once; a provider
/// installed earlier (by the binary or another library) is kept.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race to another installer is fine: one is installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// Opens connections for one deployment.
pub enum Connector {
    /// Standalone (boxed: TLS settings make a client large).
    Single(Box<Client>),
    /// Cluster: one client for commands, one (longer response timeout) for readers.
    Cluster {
        /// Client of the command connection.
        commands: Box<ClusterClient>,
        /// Client of reader connections.
        readers: Box<ClusterClient>,
    },
}

impl Connector {
    /// Parses the URLs; connects nothing yet.
    ///
    /// # Errors
    /// An invalid URL, or not exactly one URL for a standalone server.
    pub fn new(config: &RedisBusConfig) -> RedisResult<Self> {
        if config.urls.iter().any(|u| u.starts_with("rediss://")) {
            install_crypto_provider();
        }
        let timeout = config.command_timeout;
        let read_timeout = config.block + timeout;
        if config.cluster {
            let build = |response: Duration| {
                ClusterClient::builder(config.urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(response)
                    .retries(2)
                    .build()
            };
            Ok(Self::Cluster {
                commands: Box::new(build(timeout)?),
                readers: Box::new(build(read_timeout)?),
            })
        } else {
            let [url] = config.urls.as_slice() else {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "a standalone Redis bus takes exactly one URL",
                )));
            };
            Ok(Self::Single(Box::new(Client::open(url.as_str())?)))
        }
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// The shared command connection.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn commands(&self, timeout: Duration) -> RedisResult<Conn> {
        match self {
            Self::Single(client) => {
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Ok(Conn::Single(
                    ConnectionManager::new_with_config(Client::clone(client), cfg).await?,
                ))
            }
            Self::Cluster { commands, .. } => {
                Ok(Conn::Cluster(commands.get_async_connection().await?))
            }
        }
    }

    /// A dedicated reader connection whose response timeout exceeds `block`.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn reader(&self, block: Duration, timeout: Duration) -> RedisResult<ReaderConn> {
        match self {
            Self::Single(client) => {
                let cfg = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(block + timeout));
                Ok(ReaderConn::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await?,
                ))
            }
            Self::Cluster { readers, .. } => {
                Ok(ReaderConn::Cluster(readers.get_async_connection().await?))
            }
        }
    }
}
