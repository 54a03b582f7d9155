//! Test doubles for the write path: a [`Pipe`] that takes a set number of
//! bytes before it blocks (a socket with a full send buffer), and a reader
//! of the server frames it received.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::link::Wire;

/// A socket whose send buffer takes `budget` more bytes, then blocks.
#[derive(Default)]
pub struct Pipe {
    /// Everything written, in order.
    pub bytes: Mutex<Vec<u8>>,
    /// Bytes it takes before `WouldBlock`.
    budget: AtomicUsize,
    /// Fails every write (a reset peer).
    reset: AtomicBool,
    /// Write calls made.
    pub calls: AtomicUsize,
}

impl Pipe {
    /// A pipe that takes everything.
    pub fn open() -> Arc<Self> {
        Self::with_budget(usize::MAX)
    }

    /// A pipe that takes `budget` bytes, then blocks.
    pub fn with_budget(budget: usize) -> Arc<Self> {
        let p = Self::default();
        p.budget.store(budget, Ordering::SeqCst);
        Arc::new(p)
    }

    /// Lets `n` more bytes through.
    pub fn allow(&self, n: usize) {
        self.budget.fetch_add(n, Ordering::SeqCst);
    }

    /// Makes every later write fail as a reset.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    /// The payloads of the complete server frames received, in order, and
    /// how many bytes are left over (a frame cut short).
    pub fn frames(&self) -> (Vec<(u8, Vec<u8>)>, usize) {
        let bytes = self.bytes.lock();
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let rest = &bytes[at..];
            if rest.len() < 2 {
                return (out, rest.len());
            }
            assert_eq!(rest[1] & 0x80, 0, "server frames are not masked");
            let (len, head) = match rest[1] & 0x7F {
                126 if rest.len() >= 4 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                127 if rest.len() >= 10 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&rest[2..10]);
                    (u64::from_be_bytes(a) as usize, 10)
                }
                126 | 127 => return (out, rest.len()),
                n => (usize::from(n), 2),
            };
            if rest.len() < head + len {
                return (out, rest.len());
            }
            out.push((rest[0], rest[head..head + len].to_vec()));
            at += head + len;
        }
    }

    /// The text payloads received, in order.
    pub fn texts(&self) -> Vec<String> {
        self.frames()
            .0
            .into_iter()
            .map(|(_, p)| String::from_utf8(p).unwrap_or_default())
            .collect()
    }
}

impl Wire for Pipe {
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.reset.load(Ordering::SeqCst) {
            return Err(io::Error::from(io::ErrorKind::ConnectionReset));
        }
        let budget = self.budget.load(Ordering::SeqCst);
        if budget == 0 {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        let mut taken = 0;
        let mut out = self.bytes.lock();
        for b in bufs {
            let n = b.len().min(budget - taken);
            out.extend_from_slice(&b[..n]);
            taken += n;
            if taken == budget {
                break;
            }
        }
        if budget != usize::MAX {
            self.budget.fetch_sub(taken, Ordering::SeqCst);
        }
        Ok(taken)
    }
}
