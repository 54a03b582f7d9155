//! Fuzz target: Socket.IO `BinaryAssembler` fed an arbitrary sequence of text and binary messages.
//!
//! Must never panic on any input.

#![no_main]

use bytes::Bytes;
use herald_protocol::sio::{BinaryAssembler, MAX_ATTACHMENTS};
use libfuzzer_sys::fuzz_target;

// Messages are separated by 0xff (never part of UTF-8); a message's first
// byte says whether it is text (even) or binary (odd).
fuzz_target!(|data: &[u8]| {
    let mut asm = BinaryAssembler::default();
    for message in data.split(|&b| b == 0xff) {
        let Some((&flag, body)) = message.split_first() else {
            continue;
        };
        let result = if flag % 2 == 0 {
            let Ok(text) = std::str::from_utf8(body) else {
                continue;
            };
            asm.handle_text(text)
        } else {
            asm.handle_binary(Bytes::copy_from_slice(body))
        };
        match result {
            Ok(Some(packet)) => {
                assert_eq!(asm.missing(), 0);
                assert!(packet.attachments.len() <= MAX_ATTACHMENTS);
                assert_eq!(packet.validate(), Ok(()));
            }
            Ok(None) => assert!(asm.missing() > 0 && asm.missing() <= MAX_ATTACHMENTS),
            Err(_) => assert_eq!(asm.missing(), 0),
        }
    }
});
