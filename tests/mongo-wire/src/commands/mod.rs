//! Command dispatch: one module per command family.

pub mod admin;
pub mod change_streams;
pub mod crud;
pub mod cursors;
pub mod ddl;
pub mod handshake;

use crate::error::{CmdResult, CommandError};
use crate::state::Shared;
use mongodb::bson::{Bson, Document};
use std::sync::Arc;

/// What the connection does after a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Send this reply.
    Reply(Document),
    /// Close the connection without replying (fail point `closeConnection`).
    Close,
}

/// True for the handshake commands (never delayed or failed by faults).
pub fn is_handshake(name: &str) -> bool {
    matches!(name, "hello" | "isMaster" | "ismaster")
}

fn is_fault_exempt(name: &str) -> bool {
    is_handshake(name) || matches!(name, "configureFailPoint" | "heraldFault" | "heraldStats")
}

/// Runs one command document and produces the reply; logs it with its
/// result (see [`crate::stats`]).
pub(crate) async fn dispatch(shared: &Arc<Shared>, conn_id: i32, body: Document) -> Outcome {
    let Some(name) = body.keys().next().cloned() else {
        return Outcome::Reply(CommandError::new(9, "empty command document").to_doc());
    };
    let seq = shared.stats.command(&name, &body);
    let outcome = answer(shared, conn_id, &name, &body).await;
    match &outcome {
        Outcome::Close => shared.stats.finish(seq, None, true),
        Outcome::Reply(d) => {
            let failed = d.get("ok").and_then(as_i64) != Some(1);
            let code = d
                .get("code")
                .and_then(as_i64)
                .and_then(|c| i32::try_from(c).ok());
            shared
                .stats
                .finish(seq, failed.then_some(code.unwrap_or(0)), false);
        }
    }
    outcome
}

/// Whether an injected error means the stream's history is gone: a
/// change stream command failed with 286 ChangeStreamHistoryLost.
fn loses_history(name: &str, e: &CommandError) -> bool {
    e.code == 286 && matches!(name, "getMore" | "aggregate")
}

async fn answer(shared: &Arc<Shared>, conn_id: i32, name: &str, body: &Document) -> Outcome {
    if !is_fault_exempt(name) {
        if let Some(t) = shared.faults.trigger(name) {
            if let Some(d) = t.block {
                tokio::time::sleep(d).await;
            }
            if t.close {
                return Outcome::Close;
            }
            if let Some(e) = t.error {
                if loses_history(name, &e) {
                    // Like a real replica set: the position is gone for good,
                    // so a later resume from it is refused with 286 too.
                    shared.write(|db| db.oplog.lose_history());
                }
                return Outcome::Reply(e.to_doc());
            }
        }
    }
    let db = match body.get("$db") {
        Some(Bson::String(s)) => s.clone(),
        _ => {
            return Outcome::Reply(
                CommandError::new(40571, "OP_MSG requests require a $db argument").to_doc(),
            );
        }
    };
    let result = run(shared, conn_id, name, &db, body).await;
    Outcome::Reply(match result {
        Ok(mut d) => {
            d.insert("ok", 1.0);
            d
        }
        Err(e) => e.to_doc(),
    })
}

async fn run(
    shared: &Arc<Shared>,
    conn_id: i32,
    name: &str,
    db: &str,
    body: &Document,
) -> CmdResult {
    match name {
        "hello" | "isMaster" | "ismaster" => Ok(handshake::hello(shared, conn_id, body)),
        "ping" | "endSessions" => Ok(Document::new()),
        "buildInfo" | "buildinfo" => Ok(handshake::build_info()),
        "find" => crud::find(shared, db, body),
        "insert" => crud::insert(shared, db, body),
        "update" => crud::update(shared, db, body),
        "delete" => crud::delete(shared, db, body),
        "getMore" => cursors::get_more(shared, db, body).await,
        "killCursors" => cursors::kill_cursors(shared, body),
        "aggregate" => change_streams::aggregate(shared, db, body),
        "drop" => ddl::drop(shared, db, body),
        "dropDatabase" => ddl::drop_database(shared, db),
        "create" => ddl::create(shared, db, body),
        "collMod" => ddl::coll_mod(shared, db, body),
        "renameCollection" => ddl::rename(shared, db, body),
        "listCollections" => ddl::list_collections(shared, db, body),
        "listDatabases" => ddl::list_databases(shared),
        "configureFailPoint" => admin::configure_fail_point(shared, body),
        "heraldFault" => admin::herald_fault(shared, body),
        "heraldStats" => Ok(admin::herald_stats(shared)),
        other => Err(CommandError::new(59, format!("no such command: '{other}'"))),
    }
}

/// Reads an integer argument of any numeric BSON type.
pub(crate) fn as_i64(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
        _ => None,
    }
}

/// Optional integer field; `BadValue` if present with another type.
pub(crate) fn opt_i64(body: &Document, key: &str) -> Result<Option<i64>, CommandError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(v) => as_i64(v)
            .map(Some)
            .ok_or_else(|| CommandError::new(14, format!("'{key}' must be a number"))),
    }
}

/// Optional document field; `TypeMismatch` if present with another type.
pub(crate) fn opt_doc<'a>(
    body: &'a Document,
    key: &str,
) -> Result<Option<&'a Document>, CommandError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(_) => Err(CommandError::new(14, format!("'{key}' must be an object"))),
    }
}

/// Required string field (the collection name of most commands).
pub(crate) fn req_str<'a>(body: &'a Document, key: &str) -> Result<&'a str, CommandError> {
    match body.get(key) {
        Some(Bson::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(CommandError::new(
            73,
            format!("'{key}' must be a non-empty string"),
        )),
    }
}

/// Optional bool field (numbers count as truthy/falsy).
pub(crate) fn opt_bool(body: &Document, key: &str) -> Option<bool> {
    body.get(key).map(crate::matcher::truthy)
}
