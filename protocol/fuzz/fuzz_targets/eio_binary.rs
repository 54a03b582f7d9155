//! Fuzz target: Engine.IO WebSocket binary frames.
//!
//! Must never panic on any input.

#![no_main]

use bytes::Bytes;
use herald_protocol::sio::{EioData, EioPacket, WsFrame, decode_eio_binary, encode_eio_ws};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let packet = decode_eio_binary(bytes.clone());
    assert_eq!(packet, EioPacket::Message(EioData::Binary(bytes.clone())));
    assert_eq!(encode_eio_ws(&packet), WsFrame::Binary(bytes));
});
