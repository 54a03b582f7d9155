//! Accept loop, per-connection tasks, and the [`Handle`] tests hold.

use crate::commands::{self, Outcome};
use crate::config::Config;
use crate::error::StartError;
use crate::faults::FailCommand;
use crate::state::Shared;
use crate::stats::Stats;
use crate::wire::{self, WireError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, debug, info_span, warn};

/// Entry point: starts a server.
#[derive(Debug)]
pub struct MongoWireServer;

impl MongoWireServer {
    /// Binds `config.bind` and serves until [`Handle::shutdown`] or drop.
    ///
    /// # Errors
    /// [`StartError::Bind`] if the address cannot be bound.
    pub async fn start(config: Config) -> Result<Handle, StartError> {
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let shared = Arc::new(Shared::new(config, addr));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), shutdown_rx));
        Ok(Handle {
            shared,
            addr,
            shutdown,
            task: Some(task),
        })
    }
}

/// A running server. Dropping it stops the server too.
#[derive(Debug)]
pub struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Handle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `directConnection=true` URI for the driver.
    pub fn uri(&self) -> String {
        format!("mongodb://{}/?directConnection=true", self.shared.host)
    }

    /// A `replicaSet=<setName>` URI (the driver discovers this one primary).
    pub fn replica_set_uri(&self) -> String {
        format!(
            "mongodb://{}/?replicaSet={}",
            self.shared.host, self.shared.config.set_name
        )
    }

    /// Closes every client connection now (in-flight commands are abandoned).
    pub fn drop_connections(&self) {
        self.shared.faults.drop_connections();
    }

    /// Installs a fail point (replacing any previous one); `None` clears it.
    pub fn fail_commands(&self, fail: Option<FailCommand>) {
        self.shared.faults.set_fail(fail);
    }

    /// Makes the next `times` `getMore`s fail with `code` and `labels`.
    pub fn fail_next_get_mores(&self, times: u32, code: i32, labels: &[&str]) {
        self.fail_commands(Some(FailCommand::get_more(times, code, labels)));
    }

    /// Forgets all oplog history: existing resume tokens (except one at the very
    /// end) now fail with 286 ChangeStreamHistoryLost, including open streams.
    pub fn truncate_oplog(&self) {
        self.shared.db.lock().oplog.truncate();
    }

    /// Delays every reply except the handshake (`hello`/`isMaster`) by `delay`.
    pub fn set_reply_delay(&self, delay: Duration) {
        self.shared.faults.set_reply_delay(delay);
    }

    /// Closes new connections right after accept for `period`.
    pub fn refuse_connections_for(&self, period: Duration) {
        self.shared.faults.refuse_for(period);
    }

    /// Clears the fail point, reply delay and refusal.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Counters since start (or the last [`Handle::reset_stats`]).
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// Stops accepting, closes all connections and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                warn!(error = %e, "accept loop ended abnormally");
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            shared.stats.refused();
            continue;
        };
        if shared.faults.refusing() {
            shared.stats.refused();
            continue;
        }
        shared.stats.accepted();
        let conn_id = shared.next_connection_id();
        let span = info_span!("conn", id = conn_id, %peer);
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        tasks.spawn(
            async move {
                let _permit = permit;
                if let Err(e) = serve(stream, &shared, conn_id, shutdown).await {
                    debug!(error = %e, "connection closed on error");
                }
            }
            .instrument(span),
        );
    }
    tasks.shutdown().await;
}

async fn serve(
    stream: TcpStream,
    shared: &Arc<Shared>,
    conn_id: i32,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), WireError> {
    let _ = stream.set_nodelay(true);
    let mut kill = shared.faults.kill_signal();
    kill.borrow_and_update();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut next_reply_id: i32 = 1;
    loop {
        let msg = tokio::select! {
            _ = kill.changed() => return Ok(()),
            _ = shutdown.changed() => return Ok(()),
            m = wire::read_message(&mut rd) => m?,
        };
        let Some((header, payload)) = msg else {
            return Ok(());
        };
        let request = wire::decode_op_msg(&header, &payload)?;
        drop(payload);
        let handshake = request
            .body
            .keys()
            .next()
            .is_some_and(|k| commands::is_handshake(k));
        let outcome = tokio::select! {
            biased;
            o = commands::dispatch(shared, conn_id, request.body) => o,
            _ = kill.changed() => return Ok(()),
            _ = shutdown.changed() => return Ok(()),
        };
        let reply = match outcome {
            Outcome::Reply(doc) => doc,
            Outcome::Close => return Ok(()),
        };
        let delay = shared.faults.reply_delay();
        if !handshake && !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = kill.changed() => return Ok(()),
            }
        }
        if request.more_to_come {
            continue;
        }
        let bytes = wire::encode_reply(next_reply_id, request.request_id, &reply)?;
        next_reply_id = next_reply_id.wrapping_add(1);
        wr.write_all(&bytes).await?;
    }
}
