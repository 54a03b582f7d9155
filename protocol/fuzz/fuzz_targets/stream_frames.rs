//! Fuzz target: the stream frame [`Decoder`] (QUIC and WebTransport).
//!
//! Properties: never a panic; the input is fed in two pieces split at its
//! first byte's value, and the frames that come out are the same as when
//! it is fed whole; each frame re-encodes to exactly the bytes it came
//! from; nothing over the limit is ever returned.

#![no_main]

use herald_protocol::stream::{Decoder, Kind, StreamError, encode};
use libfuzzer_sys::fuzz_target;

/// The limit the target decodes under.
const MAX: usize = 4096;

fn frames(pieces: &[&[u8]]) -> (Vec<(Kind, Vec<u8>)>, Option<StreamError>) {
    let mut d = Decoder::new(MAX);
    let mut out = Vec::new();
    for p in pieces {
        d.push(p);
        loop {
            match d.next_frame() {
                Ok(Some((k, b))) => {
                    assert!(b.len() <= MAX);
                    out.push((k, b.to_vec()));
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let whole = frames(&[data]);
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let split = frames(&[&data[..cut], &data[cut..]]);
    assert_eq!(whole, split);
    let mut again = Vec::new();
    for (k, b) in &whole.0 {
        again.extend(encode(*k, b));
    }
    assert_eq!(&data[..again.len()], &again[..]);
});
