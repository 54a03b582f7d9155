//! Reads a change stream into a bounded channel, so the batch loop publishes
//! whatever arrived while the previous batch was in flight.

use mongodb::bson::RawDocumentBuf;
use mongodb::change_stream::event::ResumeToken;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::open::Stream;

/// What the reader saw, in stream order.
#[derive(Debug)]
pub enum Item {
    /// A change event.
    Event(RawDocumentBuf),
    /// An empty batch; the stream's position (postBatchResumeToken).
    Idle(Option<ResumeToken>),
    /// The cursor closed (after an invalidate).
    End,
    /// The stream failed (after the driver's own resume attempt).
    Error(mongodb::error::Error),
}

/// A reader task, aborted when dropped.
pub struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts reading `stream` into `tx` on `tasks` (the router's tracker,
/// awaited at shutdown). The channel's bound is the backpressure.
pub fn spawn(tasks: &TaskTracker, mut stream: Stream, tx: mpsc::Sender<Item>) -> Reader {
    Reader(tasks.spawn(async move {
        loop {
            let item = match stream.next_if_any().await {
                Ok(Some(ev)) => Item::Event(ev),
                Ok(None) if !stream.is_alive() => Item::End,
                Ok(None) => Item::Idle(stream.resume_token()),
                Err(e) => Item::Error(e),
            };
            let last = matches!(item, Item::End | Item::Error(_));
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
    }))
}
