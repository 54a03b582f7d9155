//! `hello` / `isMaster` as a one-member replica set primary, and `buildInfo`.

use crate::state::Shared;
use crate::wire::{MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE};
use mongodb::bson::{DateTime, Document, doc};

/// Highest wire version reported (MongoDB 6.0).
pub const MAX_WIRE_VERSION: i32 = 17;

/// The handshake reply (without `ok`). No `topologyVersion`, so the driver
/// polls instead of streaming `hello`.
pub(crate) fn hello(shared: &Shared, conn_id: i32, body: &Document) -> Document {
    let host = shared.host.clone();
    let mut d = doc! {
        "isWritablePrimary": true,
        "ismaster": true,
        "secondary": false,
        "setName": &shared.config.set_name,
        "setVersion": 1,
        "hosts": [&host],
        "primary": &host,
        "me": &host,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "logicalSessionTimeoutMinutes": 30,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE as i32,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE as i32,
        "maxWriteBatchSize": 100_000,
        "localTime": DateTime::now(),
        "connectionId": conn_id,
        "readOnly": false,
    };
    if body.contains_key("helloOk") {
        d.insert("helloOk", true);
    }
    d
}

/// `buildInfo` (without `ok`).
pub(crate) fn build_info() -> Document {
    doc! {
        "version": "6.0.0",
        "versionArray": [6, 0, 0, 0],
        "gitVersion": "herald-mongo-wire",
        "bits": 64,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE as i32,
    }
}
