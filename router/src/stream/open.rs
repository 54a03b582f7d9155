//! Opening a scope's change stream.

use std::time::Duration;

use mongodb::Client;
use mongodb::bson::{Document, RawDocumentBuf};
use mongodb::change_stream::ChangeStream;
use mongodb::error::{Error, ErrorKind};
use mongodb::options::ChangeStreamOptions;

use super::token::token_from_hex;
use crate::rules::{Scope, Target};

/// A change stream of raw events (raw, so that an undecodable event is
/// skipped by the router rather than by the driver).
pub type Stream = ChangeStream<RawDocumentBuf>;

/// Where a stream starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// From the present.
    Now,
    /// After this token (`resumeAfter`).
    ResumeAfter(String),
    /// After this invalidate token (`startAfter`).
    StartAfter(String),
}

/// Opens `scope`'s stream.
///
/// # Errors
/// The driver's error (see [`is_dead_position`]).
pub async fn open(
    client: &Client,
    scope: &Scope,
    start: &Start,
    max_await: Duration,
    batch_size: u32,
) -> Result<Stream, Error> {
    let mut opts = ChangeStreamOptions::default();
    opts.full_document.clone_from(&scope.full_document);
    opts.full_document_before_change
        .clone_from(&scope.full_document_before_change);
    opts.max_await_time = Some(max_await);
    opts.batch_size = Some(batch_size);
    if !scope.collections.is_empty() {
        // Updates then carry `disambiguatedPaths` for paths whose field
        // names hold dots or are numeric object keys (MongoDB 6.1+; older
        // servers ignore it). The `$match` keeps the extra event kinds out.
        opts.show_expanded_events = Some(true);
    }
    match start {
        Start::Now => {}
        Start::ResumeAfter(t) => opts.resume_after = token_from_hex(t),
        Start::StartAfter(t) => opts.start_after = token_from_hex(t),
    }
    let pipeline: Vec<Document> = scope.pipeline();
    let stream = match &scope.target {
        Target::Deployment => client.watch().pipeline(pipeline).with_options(opts).await?,
        Target::Database(db) => {
            client
                .database(db)
                .watch()
                .pipeline(pipeline)
                .with_options(opts)
                .await?
        }
        Target::Collection(db, c) => {
            client
                .database(db)
                .collection::<Document>(c)
                .watch()
                .pipeline(pipeline)
                .with_options(opts)
                .await?
        }
    };
    Ok(stream.with_type::<RawDocumentBuf>())
}

/// The server error code, if any.
pub fn error_code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

/// Whether the stream can never resume from its position: 286
/// ChangeStreamHistoryLost, 260 InvalidResumeToken, 280 ChangeStreamFatalError.
/// The answer is a resync, not another attempt with the same token.
pub fn is_dead_position(e: &Error) -> bool {
    matches!(error_code(e), Some(286 | 260 | 280))
}
