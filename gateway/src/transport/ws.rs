//! WebSocket connections over TCP: reading client messages (the socket is
//! shared with the fan-out, which writes to it directly), writing control
//! frames in order with everything else, and the close sequence.

use std::sync::Arc;
use std::time::Duration;

use crate::transport::socket::Socket;
use bytes::Bytes;
use herald_protocol::native::CloseCode;
use herald_protocol::ws::{Assembler, Limits, Opcode, WsMessage, close};

use super::end::ReadError;
use super::frames::ws_frame;
use super::link::{Chunk, Flushed, Link};

/// Read buffer bytes kept between reads; a larger buffer (a big frame
/// arriving in pieces) is freed once it is consumed.
const KEEP_BUFFER: usize = 512;

/// Bytes read per `read` call (on the stack of a synchronous call, so an
/// idle connection's task holds no read buffer).
const READ_CHUNK: usize = 4096;

/// How long the close sequence may take: a slow or dead peer may never
/// read it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a closed connection's remaining input is read and dropped.
const LINGER: Duration = Duration::from_millis(500);

/// Reads client messages from a TCP socket.
pub struct WsReader {
    /// Frames to messages.
    asm: Assembler,
    /// Bytes read but not yet decoded (a frame arriving in pieces).
    buf: Vec<u8>,
    /// Messages decoded from the last read, not yet returned.
    ready: std::collections::VecDeque<WsMessage>,
}

impl WsReader {
    /// A reader with `leftover` bytes already read (after the HTTP upgrade).
    pub fn new(limits: Limits, leftover: Vec<u8>) -> Self {
        Self {
            asm: Assembler::new(limits),
            buf: leftover,
            ready: std::collections::VecDeque::new(),
        }
    }

    /// The next message.
    ///
    /// # Errors
    /// [`ReadError`]: the connection ends (see `transport::end`).
    pub async fn next(&mut self, sock: &Socket) -> Result<WsMessage, ReadError> {
        loop {
            if let Some(m) = self.ready.pop_front() {
                return Ok(m);
            }
            if !self.buf.is_empty() {
                let mut buf = std::mem::take(&mut self.buf);
                let used = self.decode_all(&mut buf)?;
                buf.drain(..used);
                self.buf = buf;
                self.trim();
                if let Some(m) = self.ready.pop_front() {
                    return Ok(m);
                }
            }
            sock.readable().await?;
            self.read_now(sock)?;
        }
    }

    /// Reads what the socket has (synchronously: its buffer lives on this
    /// call's stack, not in the connection's future) and decodes it.
    fn read_now(&mut self, sock: &Socket) -> Result<(), ReadError> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = match sock.try_read(&mut chunk) {
            Ok(0) => return Err(ReadError::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if self.buf.is_empty() {
            let used = self.decode_all(&mut chunk[..n])?;
            self.buf.extend_from_slice(&chunk[used..n]);
        } else {
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    fn decode_all(&mut self, bytes: &mut [u8]) -> Result<usize, ReadError> {
        let mut used = 0;
        loop {
            let d = self.asm.decode(&mut bytes[used..])?;
            if d.consumed == 0 {
                return Ok(used);
            }
            used += d.consumed;
            self.ready.extend(d.message);
        }
    }

    fn trim(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
    }
}

/// A WebSocket frame as a chunk completing no delivery.
pub fn control(opcode: Opcode, payload: &[u8]) -> Chunk {
    Chunk::plain(ws_frame(opcode, payload))
}

/// Answers a client's ping.
pub fn pong(link: &Link, payload: &Bytes) {
    let _ = link.write([control(Opcode::Pong, payload)]);
}

/// Flushes queued bytes while the socket takes them: call when the
/// socket is writable. Returns whether the link is still open.
pub async fn flush(link: &Link, sock: &Socket) -> bool {
    if sock.writable().await.is_err() {
        return false;
    }
    link.flush() != Flushed::Closed
}

/// The close sequence: `goodbye` (the protocol's own notice, if any), then
/// a close frame with `code`, after whatever frame is part-written, within
/// a bounded time.
pub async fn close_with(link: &Arc<Link>, sock: &Socket, code: CloseCode, goodbye: Vec<Chunk>) {
    let mut chunks = goodbye;
    chunks.push(Chunk::plain(close::frame(u16::from(code), code.name())));
    link.finish(chunks);
    let flushed = tokio::time::timeout(CLOSE_TIMEOUT, async {
        loop {
            match link.flush_final() {
                Flushed::Blocked => {
                    if sock.writable().await.is_err() {
                        return false;
                    }
                }
                Flushed::Empty => return true,
                Flushed::Closed => return false,
            }
        }
    })
    .await;
    // Only after closes for input the client was still sending: a normal
    // peer reads the close frame and closes its side, which needs no wait.
    if flushed == Ok(true) && matches!(code, CloseCode::FrameFlood | CloseCode::FrameTooLarge) {
        linger(sock).await;
    }
}

/// Ends a connection whose last frames are written: half-closes it (FIN)
/// and reads and discards what the client still sends, until it closes
/// its side or [`LINGER`] passes. Closing a socket with unread input
/// would send a reset instead, and a reset makes the client's kernel
/// drop the close frame and the notice before it, which a client that
/// was still sending (a flooder, a busy publisher) would then never see.
async fn linger(sock: &Socket) {
    if sock.shutdown_write().is_err() {
        return;
    }
    // On the heap, and only here: a buffer on the stack would be part of
    // every session future (they await this at their end), for the whole
    // life of every connection.
    let mut sink = vec![0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        loop {
            if sock.readable().await.is_err() {
                return;
            }
            match sock.try_read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
    .await;
}
