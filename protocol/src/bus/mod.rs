//! Frames that travel between publishers and gateways over the bus.
//!
//! On the wire a bus frame is one version byte ([`BUS_VERSION`]) followed by
//! a MessagePack map (via `rmp-serde`, field names included). Unknown fields
//! are ignored; an unknown version is refused with
//! [`BusDecodeError::UnsupportedVersion`]. `docs/adapter-protocol.md` is the
//! specification another team can write an emitter from.

pub mod codec;
pub mod frame;
pub mod presence;

pub use codec::{BUS_VERSION, BusDecodeError, decode_bus, encode_bus};
pub use frame::{
    AskAnswer, AskReply, AskRequest, BusFrame, Control, ControlTarget, NodeHeartbeat,
    PresenceAction, PresenceEvent, PresenceQuery, PresenceReply, Publication, RoomUsers,
    UserSessions,
};
