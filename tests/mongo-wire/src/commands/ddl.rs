//! `drop`, `dropDatabase`, `create`, `renameCollection`, `listCollections`, `listDatabases`.

use super::cursors::cursor_reply;
use super::{opt_bool, opt_doc, req_str};
use crate::error::{CmdResult, CommandError};
use crate::matcher::matches;
use crate::oplog::{Change, Namespace, OpKind};
use crate::state::{Db, Shared};
use mongodb::bson::{Bson, Document, doc};

fn ns_not_found() -> CommandError {
    CommandError::new(26, "ns not found")
}

fn drop_one(st: &mut Db, db: &str, coll: &str) -> bool {
    if st.store.drop_collection(db, coll).is_none() {
        return false;
    }
    st.oplog
        .append(Change::new(OpKind::Drop, Namespace::coll(db, coll)));
    true
}

pub(crate) fn drop(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "drop")?;
    if shared.write(|st| drop_one(st, db, coll)) {
        Ok(doc! {"ns": format!("{db}.{coll}"), "nIndexesWas": 1})
    } else {
        Err(ns_not_found())
    }
}

pub(crate) fn drop_database(shared: &Shared, db: &str) -> CmdResult {
    shared.write(|st| {
        let names = st.store.collection_names(db);
        for c in &names {
            drop_one(st, db, c);
        }
        if !names.is_empty() {
            st.oplog.append(Change::new(
                OpKind::DropDatabase,
                Namespace {
                    db: db.to_owned(),
                    coll: None,
                },
            ));
        }
    });
    Ok(doc! {"dropped": db})
}

pub(crate) fn create(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "create")?;
    shared.write(|st| {
        if st.store.get(db, coll).is_some() {
            return Err(CommandError::new(
                48,
                format!("Collection {db}.{coll} already exists."),
            ));
        }
        let images = images_option(body)?.unwrap_or(false);
        st.store.get_or_create(db, coll).images = images;
        Ok(Document::new())
    })
}

/// `changeStreamPreAndPostImages: {enabled: bool}`, if given.
fn images_option(body: &Document) -> Result<Option<bool>, CommandError> {
    match body.get("changeStreamPreAndPostImages") {
        None => Ok(None),
        Some(Bson::Document(d)) => match d.get("enabled") {
            Some(Bson::Boolean(b)) => Ok(Some(*b)),
            _ => Err(CommandError::bad_value(
                "changeStreamPreAndPostImages needs {enabled: <bool>}",
            )),
        },
        Some(_) => Err(CommandError::bad_value(
            "changeStreamPreAndPostImages must be an object",
        )),
    }
}

/// `collMod`: only `changeStreamPreAndPostImages` is supported.
pub(crate) fn coll_mod(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "collMod")?;
    let images = images_option(body)?;
    shared.write(|st| {
        let c = st.store.get_mut(db, coll).ok_or_else(ns_not_found)?;
        if let Some(on) = images {
            c.images = on;
        }
        Ok(doc! {})
    })
}

fn split_ns(ns: &str) -> Result<(&str, &str), CommandError> {
    ns.split_once('.')
        .filter(|(d, c)| !d.is_empty() && !c.is_empty())
        .ok_or_else(|| CommandError::new(73, format!("invalid namespace: {ns}")))
}

pub(crate) fn rename(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    if db != "admin" {
        return Err(CommandError::new(
            13,
            "renameCollection may only be run against the admin database",
        ));
    }
    let (from_db, from) = split_ns(req_str(body, "renameCollection")?)?;
    let (to_db, to) = split_ns(req_str(body, "to")?)?;
    let drop_target = opt_bool(body, "dropTarget").unwrap_or(false);
    shared.write(|st| {
        if st.store.get(from_db, from).is_none() {
            return Err(ns_not_found());
        }
        if (from_db, from) == (to_db, to) {
            return Err(CommandError::new(20, "Can't rename a collection to itself"));
        }
        if st.store.get(to_db, to).is_some() {
            if !drop_target {
                return Err(CommandError::new(48, "target namespace exists"));
            }
            drop_one(st, to_db, to);
        }
        let moved = st.store.drop_collection(from_db, from).unwrap_or_default();
        *st.store.get_or_create(to_db, to) = moved;
        let mut c = Change::new(OpKind::Rename, Namespace::coll(from_db, from));
        c.to = Some(Namespace::coll(to_db, to));
        st.oplog.append(c);
        Ok(Document::new())
    })
}

pub(crate) fn list_collections(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let filter = opt_doc(body, "filter")?.cloned().unwrap_or_default();
    let names = shared.db.lock().store.collection_names(db);
    let mut batch = Vec::new();
    for name in names {
        let info = doc! {
            "name": &name,
            "type": "collection",
            "options": {},
            "info": {"readOnly": false},
            "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        };
        if matches(&info, &filter)? {
            batch.push(Bson::Document(info));
        }
    }
    Ok(cursor_reply(
        0,
        &format!("{db}.$cmd.listCollections"),
        "firstBatch",
        batch,
        None,
    ))
}

pub(crate) fn list_databases(shared: &Shared) -> CmdResult {
    let names = shared.db.lock().store.database_names();
    let dbs: Vec<Bson> = names
        .into_iter()
        .map(|n| Bson::Document(doc! {"name": n, "sizeOnDisk": 0i64, "empty": false}))
        .collect();
    Ok(doc! {"databases": dbs, "totalSize": 0i64})
}
