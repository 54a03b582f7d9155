//! Shared helpers for the integration tests.
#![allow(dead_code)]

use herald_mongo_wire::{Config, Handle, MongoWireServer};
use mongodb::bson::{Document, doc};
use mongodb::change_stream::event::ResumeToken;
use mongodb::error::{Error, ErrorKind};
use mongodb::{Client, Collection};

/// Starts a server and a driver client connected to it.
pub async fn start() -> (Handle, Client) {
    start_with(Config::default()).await
}

/// Starts a server with `config` and a driver client.
pub async fn start_with(config: Config) -> (Handle, Client) {
    let h = MongoWireServer::start(config).await.expect("server starts");
    let c = client(&h.uri()).await;
    (h, c)
}

/// A client for `uri` with a short server selection timeout so failures are quick.
pub async fn client(uri: &str) -> Client {
    let sep = if uri.contains('?') { '&' } else { '?' };
    Client::with_uri_str(format!("{uri}{sep}serverSelectionTimeoutMS=5000"))
        .await
        .expect("client")
}

/// A collection handle.
pub fn coll(c: &Client, db: &str, name: &str) -> Collection<Document> {
    c.database(db).collection(name)
}

/// The server error code, if `e` is a command error.
pub fn code(e: &Error) -> Option<i32> {
    match *e.kind {
        ErrorKind::Command(ref c) => Some(c.code),
        _ => None,
    }
}

/// The `_data` hex of a resume token.
pub fn hex(t: &ResumeToken) -> String {
    let d = mongodb::bson::to_document(t).expect("token is a document");
    d.get_str("_data").expect("_data").to_owned()
}

/// `{_id: i}` documents for `range`.
pub fn ids(range: std::ops::Range<i32>) -> Vec<Document> {
    range.map(|i| doc! {"_id": i, "v": i}).collect()
}

/// The next event, polling a bounded number of `getMore`s. (The first
/// `next_if_any` after an empty first batch returns `None` without a `getMore`.)
pub async fn next_event<T: serde::de::DeserializeOwned>(
    cs: &mut mongodb::change_stream::ChangeStream<T>,
) -> T {
    for _ in 0..10 {
        if let Some(e) = cs.next_if_any().await.expect("getMore") {
            return e;
        }
    }
    panic!("no change event after 10 polls");
}

/// `n` events via [`next_event`].
pub async fn take_events<T: serde::de::DeserializeOwned>(
    cs: &mut mongodb::change_stream::ChangeStream<T>,
    n: usize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next_event(cs).await);
    }
    out
}
