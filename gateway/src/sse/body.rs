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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use herald_bus::Message;
    use herald_protocol::RoomName;
    use herald_protocol::native::CloseCode;
    use herald_protocol::sse::{Entry, epoch_check};
    use serde_json::json;

    use crate::metrics::GatewayMetrics;
    use crate::transport::frames::{Broadcast, Framing};
    use crate::transport::link::{Chunk, Link, LinkLimits, Offer};

    fn link(max_messages: usize) -> Arc<Link> {
        Link::new(
            Arc::from("s"),
            Framing::Sse,
            None,
            LinkLimits {
                max_messages,
                max_bytes: 1 << 20,
            },
            Arc::new(GatewayMetrics::new(false)),
        )
    }

    fn msg(room: &str, offset: u64) -> Arc<Broadcast> {
        Broadcast::new(Arc::new(Message::new(
            RoomName::new(room).unwrap_or_else(|_| unreachable!()),
            "e".into(),
            json!(offset).into(),
            Arc::from("ep"),
            offset,
            0,
            None,
        )))
    }

    fn text(chunks: &[Chunk]) -> String {
        chunks
            .iter()
            .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
            .collect()
    }

    #[test]
    fn a_live_message_is_its_stream_id_then_the_shared_event() {
        let l = link(10);
        let a = RoomName::new("a").unwrap_or_else(|_| unreachable!());
        let b = RoomName::new("b").unwrap_or_else(|_| unreachable!());
        let b_at = Entry {
            offset: 4,
            check: epoch_check("b", "ep"),
        };
        l.set_sse_positions(vec![None, Some(b_at)]);
        let sa = l.add_slot(a, Arc::from("ep"), 6);
        let _sb = l.add_slot(b, Arc::from("ep"), 4);
        l.go_live(sa);
        let m = msg("a", 7);
        assert_eq!(l.offer(sa, &m), Offer::Queued);
        let chunks = l.take_sse().unwrap_or_default();
        let check = |room| radix(epoch_check(room, "ep"));
        assert_eq!(
            text(&chunks[..1]),
            format!("id: 7.{}-4.{}\n", check("a"), check("b"))
        );
        assert_eq!(
            chunks[1].bytes.as_ptr(),
            m.sse().as_ptr(),
            "the shared bytes"
        );
    }

    fn radix(mut n: u32) -> String {
        let mut s = Vec::new();
        loop {
            s.push(char::from_digit(n % 36, 36).unwrap_or('?'));
            n /= 36;
            if n == 0 {
                break;
            }
        }
        s.iter().rev().collect()
    }

    /// A stream closed by the fan-out (a slow consumer) must not end
    /// before the session queued its final event: a body that ended at the
    /// close would never tell the client 4002.
    #[test]
    fn a_closed_stream_ends_only_after_its_final_event() {
        let l = link(10);
        l.write([Chunk::plain(Bytes::from_static(b": ping\n\n"))])
            .unwrap_or_else(|_| unreachable!());
        l.close(CloseCode::SlowConsumer);
        assert_eq!(l.take_sse().map(|c| c.len()), Some(0), "not over yet");
        l.finish([super::super::events::disconnect(CloseCode::SlowConsumer)]);
        let last = text(&l.take_sse().unwrap_or_default());
        assert!(last.starts_with("event: disconnect\ndata: "), "{last}");
        assert!(last.contains("\"code\":4002"), "{last}");
        assert!(l.take_sse().is_none(), "then the end");
    }
}
