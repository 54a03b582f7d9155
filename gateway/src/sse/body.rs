//! The response body of an SSE stream: the connection's queued chunks,
//! taken from its link whenever hyper asks for more.
//!
//! The body takes the link's queue only once it has handed hyper every
//! chunk it took before, and hyper asks only while its own write buffer
//! has room. So a client that stops reading leaves the chunks in the
//! link, whose limits then close the stream as a slow consumer (4002):
//! the memory a stream holds is its link's bound, one batch, and hyper's
//! buffer. When hyper drops the body (the client went away), the link is
//! marked gone and the session ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;

use crate::transport::link::Link;

/// Marks the link gone when the body is dropped before the stream ended.
struct Reader {
    /// The connection's write side.
    link: Arc<Link>,
    /// Chunks taken from the link, not yet handed to hyper.
    taken: VecDeque<Bytes>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        // A no-op when the stream ended: the link was closed first.
        self.link.gone("client_closed");
    }
}

/// The body that streams `link`'s chunks until the link is closed and
/// everything, its final event included, was taken.
pub fn body(link: Arc<Link>) -> Body {
    let reader = Reader {
        link,
        taken: VecDeque::new(),
    };
    Body::from_stream(futures_util::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(bytes) = r.taken.pop_front() {
                return Some((Ok::<Bytes, Infallible>(bytes), r));
            }
            match r.link.take_sse() {
                None => return None,
                Some(chunks) if !chunks.is_empty() => {
                    r.taken.extend(chunks.into_iter().map(|c| c.bytes));
                }
                Some(_) => r.link.sse_ready().await,
            }
        }
    }))
}
