//! Frames that travel between publishers and gateways over the bus.
//!
//! On the wire a bus frame is one version byte ([`BUS_VERSION`]) followed by
//! a MessagePack map (via `rmp-serde`, field names included) and, for a
//! publication, its payload's JSON text. Unknown fields are ignored; an
//! unknown version is refused with [`BusDecodeError::UnsupportedVersion`]. `docs/adapter-protocol.md` is the
//! specification another team can write an emitter from.

pub mod codec;
pub mod frame;
pub mod presence;

pub use codec::{
    BUS_VERSION, BUS_VERSION_MIN, BusDecodeError, PublicationFrame, decode_bus, decode_bus_shared,
    encode_bus, write_bus,
};
pub use frame::{
    AskAnswer, AskReply, AskRequest, BusFrame, Control, ControlTarget, NodeHeartbeat,
    PresenceAction, PresenceEvent, PresenceQuery, PresenceReply, Publication, RoomUsers,
    UserSessions,
};
