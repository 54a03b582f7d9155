//! One SSE stream's task, once its rooms are joined: handles what the hub
//! queued (gaps, epoch changes, presence, an operator's leave), writes the
//! heartbeat comments, ends the stream at its token's expiry or on a
//! drain, and writes the final `disconnect` event.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_protocol::native::CloseCode;
use herald_protocol::sse::COMMENT_PING;
use tokio::time::{Instant, Sleep};

use super::events::{self, Stream};
use crate::auth::Access;
use crate::hub::Hub;
use crate::hub::rooms::ConnId;
use crate::hub::subscriptions::Subscriptions;
use crate::server::AppState;
use crate::server::admission::ConnPermit;
use crate::transport::accounting;
use crate::transport::end::End;
use crate::transport::link::{Chunk, Link, Out};

/// Unregisters the session from the hub when dropped (the request may be
/// dropped while its rooms are being joined).
pub struct Registered {
    /// The hub.
    pub hub: Arc<Hub>,
    /// The session's id there.
    pub conn: ConnId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.hub.unregister(self.conn);
    }
}

/// What the route hands the task.
pub struct Start {
    /// Drops the HTTP connection (`crate::http::serve::ConnAbort`): for a
    /// stream whose last events the client never reads.
    pub abort: Option<tokio_util::sync::CancellationToken>,
    /// The write side the body reads.
    pub link: Arc<Link>,
    /// The joined rooms.
    pub subs: Subscriptions,
    /// The stream's rooms, for its events.
    pub stream: Stream,
    /// The grant, for its expiry.
    pub access: Box<Access>,
    /// The hub registration.
    pub registered: Registered,
    /// The connection's place under the limits.
    pub permit: ConnPermit,
}

/// The timer of the grant's deadline (its token's expiry), if any.
fn arm(access: &Access) -> Option<(Pin<Box<Sleep>>, CloseCode)> {
    access
        .deadline()
        .map(|(at, code)| (Box::pin(tokio::time::sleep_until(at)), code))
}

async fn until(timer: &mut Option<(Pin<Box<Sleep>>, CloseCode)>) -> CloseCode {
    match timer {
        Some((sleep, code)) => {
            sleep.as_mut().await;
            *code
        }
        None => std::future::pending().await,
    }
}

/// Runs the stream until the client goes away or the gateway ends it.
pub async fn run(state: Arc<AppState>, start: Start) {
    let Start {
        abort,
        link,
        mut subs,
        mut stream,
        access,
        registered,
        permit,
    } = start;
    let hub = state.hub.clone();
    let mut timer = arm(&access);
    let interval = state.config.sse_heartbeat;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + interval, interval);
    let mut inbox = VecDeque::new();
    let mut emits = Vec::new();
    let mut written = Vec::new();
    let stopping = state.shutdown.cancelled();
    tokio::pin!(stopping);
    let end: End = loop {
        let end = tokio::select! {
            biased;
            () = &mut stopping => Some(End::Close(CloseCode::Shutdown)),
            () = link.notified() => match link.take_inbox(&mut inbox) {
                Some(closed) => Some(End::from(closed)),
                None => {
                    while let Some(out) = inbox.pop_front() {
                        if let Out::Join(room) = out {
                            // A stream's rooms are its URL's: its id has
                            // no place for another.
                            tracing::debug!(%room, "operator join ignored on an SSE stream");
                            continue;
                        }
                        Box::pin(subs.on_out(out, &mut emits)).await;
                    }
                    let items = stream.items(&mut emits);
                    let result = if items.is_empty() { Ok(()) } else { link.write_sse(items) };
                    subs.settle();
                    result.err().map(End::from)
                }
            },
            code = until(&mut timer) => {
                tracing::debug!(code = code.name(), "token expired");
                Some(End::Close(code))
            }
            _ = heartbeat.tick() => {
                link.write([Chunk::plain(Bytes::from_static(COMMENT_PING))]).err().map(End::from)
            }
        };
        link.take_written(&mut written);
        accounting::written(hub.metrics(), link.transport(), &written);
        written.clear();
        if let Some(end) = end {
            break end;
        }
    };
    subs.leave_all();
    drop(subs);
    drop(registered);
    hub.metrics().disconnect(end.reason());
    match end {
        End::Close(code) => {
            crate::transport::end::log_close(code);
            link.close(code);
            link.finish([events::disconnect(code)]);
        }
        End::Gone(reason) => {
            tracing::debug!(reason, "gone");
            link.finish([]);
        }
    }
    link.take_written(&mut written);
    accounting::written(hub.metrics(), link.transport(), &written);
    drop(permit);
    // A client that stopped reading never takes the final event, and hyper
    // cannot end a response the socket will not take: after a grace, drop
    // the connection, so a stalled reader holds no socket.
    let Some(abort) = abort else { return };
    let grace = Instant::now() + state.config.sse_final_grace;
    while link.has_queued() {
        if Instant::now() >= grace {
            tracing::debug!("final event not taken; connection dropped");
            abort.cancel();
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
