//! `find`, `insert`, `update`, `delete`. Every write appends oplog entries.

use super::cursors::{Cursor, FindCursor, cursor_reply};
use super::{as_i64, opt_bool, opt_doc, opt_i64, req_str};
use crate::compare;
use crate::error::{CmdResult, CommandError};
use crate::matcher::{first_value, matches};
use crate::oplog::{Change, Namespace, OpKind};
use crate::projection::Projection;
use crate::state::{Db, Shared};
use crate::update::{Applied, UpdateKind, apply_operators, replace, set_path};
use crate::wire::MAX_BSON_OBJECT_SIZE;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use std::collections::VecDeque;

/// Default size of a first batch.
const DEFAULT_BATCH: usize = 101;

fn docs_arg<'a>(body: &'a Document, key: &str) -> Result<Vec<&'a Document>, CommandError> {
    let Some(Bson::Array(items)) = body.get(key) else {
        return Err(CommandError::new(9, format!("'{key}' must be an array")));
    };
    items
        .iter()
        .map(|i| match i {
            Bson::Document(d) => Ok(d),
            _ => Err(CommandError::new(
                14,
                format!("'{key}' entries must be objects"),
            )),
        })
        .collect()
}

fn write_error(index: usize, e: &CommandError) -> Bson {
    Bson::Document(doc! {"index": index as i32, "code": e.code, "errmsg": &e.message})
}

fn finish(mut reply: Document, errors: Vec<Bson>) -> Document {
    if !errors.is_empty() {
        reply.insert("writeErrors", errors);
    }
    reply
}

pub(crate) fn find(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "find")?;
    let filter = opt_doc(body, "filter")?.cloned().unwrap_or_default();
    let projection = opt_doc(body, "projection")?
        .map(Projection::parse)
        .transpose()?;
    let skip = usize::try_from(opt_i64(body, "skip")?.unwrap_or(0).max(0)).unwrap_or(0);
    let limit = opt_i64(body, "limit")?.unwrap_or(0);
    let batch = opt_i64(body, "batchSize")?;
    let single = opt_bool(body, "singleBatch").unwrap_or(false) || limit < 0;
    let mut docs = Vec::new();
    {
        let guard = shared.db.lock();
        if let Some(c) = guard.store.get(db, coll) {
            for (_, d) in c.iter() {
                if matches(d, &filter)? {
                    docs.push(d.clone());
                }
            }
        }
    }
    if let Some(sort) = opt_doc(body, "sort")? {
        sort_docs(&mut docs, sort);
    }
    let limit = usize::try_from(limit.unsigned_abs()).unwrap_or(usize::MAX);
    let mut docs: VecDeque<Document> = docs
        .into_iter()
        .skip(skip)
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|d| projection.as_ref().map_or(d.clone(), |p| p.apply(&d)))
        .collect();
    let first_n = batch.map_or(DEFAULT_BATCH, |b| usize::try_from(b.max(0)).unwrap_or(0));
    let first: Vec<Bson> = docs
        .drain(..first_n.min(docs.len()))
        .map(Bson::Document)
        .collect();
    let ns = format!("{db}.{coll}");
    let id = if docs.is_empty() || single {
        0
    } else {
        shared
            .add_cursor(Cursor::Find(FindCursor {
                ns: ns.clone(),
                docs,
            }))
            .ok_or_else(|| CommandError::new(2, "too many open cursors"))?
    };
    Ok(cursor_reply(id, &ns, "firstBatch", first, None))
}

fn sort_docs(docs: &mut [Document], sort: &Document) {
    let keys: Vec<(String, bool)> = sort
        .iter()
        .map(|(k, v)| (k.clone(), as_i64(v).unwrap_or(1) >= 0))
        .collect();
    docs.sort_by(|a, b| {
        for (k, asc) in &keys {
            let o = compare::cmp(&first_value(a, k), &first_value(b, k));
            let o = if *asc { o } else { o.reverse() };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
}

pub(crate) fn insert(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "insert")?.to_owned();
    let docs = docs_arg(body, "documents")?;
    let ordered = opt_bool(body, "ordered").unwrap_or(true);
    let (n, errors) = shared.write(|st| {
        let mut n = 0;
        let mut errors = Vec::new();
        for (i, d) in docs.into_iter().enumerate() {
            match insert_one(st, db, &coll, d.clone()) {
                Ok(()) => n += 1,
                Err(e) => {
                    errors.push(write_error(i, &e));
                    if ordered {
                        break;
                    }
                }
            }
        }
        (n, errors)
    });
    Ok(finish(doc! {"n": n}, errors))
}

fn insert_one(st: &mut Db, db: &str, coll: &str, mut d: Document) -> Result<(), CommandError> {
    if !d.contains_key("_id") {
        let mut with_id = doc! {"_id": ObjectId::new()};
        with_id.extend(d);
        d = with_id;
    }
    let mut size = Vec::new();
    d.to_writer(&mut size)
        .map_err(|e| CommandError::bad_value(e.to_string()))?;
    if size.len() > MAX_BSON_OBJECT_SIZE {
        return Err(CommandError::new(10334, "object to insert too large"));
    }
    let key = doc! {"_id": d.get("_id").cloned().unwrap_or(Bson::Null)};
    if !st.store.get_or_create(db, coll).insert(d.clone()) {
        return Err(CommandError::new(
            11000,
            format!(
                "E11000 duplicate key error collection: {db}.{coll} index: _id_ dup key: {key}"
            ),
        ));
    }
    let mut c = Change::new(OpKind::Insert, Namespace::coll(db, coll));
    c.document_key = Some(key);
    c.post_image = Some(d);
    st.oplog.append(c);
    Ok(())
}

#[derive(Default)]
struct UpdateTotals {
    n: i64,
    modified: i64,
    upserted: Vec<Bson>,
}

pub(crate) fn update(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "update")?.to_owned();
    let specs = docs_arg(body, "updates")?;
    let ordered = opt_bool(body, "ordered").unwrap_or(true);
    let (t, errors) = shared.write(|st| {
        let mut t = UpdateTotals::default();
        let mut errors = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            if let Err(e) = update_one(st, db, &coll, i, spec, &mut t) {
                errors.push(write_error(i, &e));
                if ordered {
                    break;
                }
            }
        }
        (t, errors)
    });
    let mut reply = doc! {"n": t.n, "nModified": t.modified};
    if !t.upserted.is_empty() {
        reply.insert("upserted", t.upserted);
    }
    Ok(finish(reply, errors))
}

fn update_one(
    st: &mut Db,
    db: &str,
    coll: &str,
    index: usize,
    spec: &Document,
    t: &mut UpdateTotals,
) -> Result<(), CommandError> {
    let q = opt_doc(spec, "q")?.cloned().unwrap_or_default();
    let kind = UpdateKind::parse(spec.get("u").unwrap_or(&Bson::Null))?;
    let multi = opt_bool(spec, "multi").unwrap_or(false);
    let upsert = opt_bool(spec, "upsert").unwrap_or(false);
    if multi && matches!(kind, UpdateKind::Replacement(_)) {
        return Err(CommandError::bad_value(
            "multi update is not supported for replacement-style update",
        ));
    }
    let mut slots = Vec::new();
    if let Some(c) = st.store.get(db, coll) {
        for (slot, d) in c.iter() {
            if matches(d, &q)? {
                slots.push((slot, d.clone()));
                if !multi {
                    break;
                }
            }
        }
    }
    if slots.is_empty() {
        if upsert {
            let d = upsert_doc(&q, &kind)?;
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            insert_one(st, db, coll, d)?;
            t.n += 1;
            t.upserted
                .push(Bson::Document(doc! {"index": index as i32, "_id": id}));
        }
        return Ok(());
    }
    // Compute every new image first so a failing operator changes nothing.
    let mut changes = Vec::new();
    for (slot, old) in slots {
        let id = old.get("_id").cloned().unwrap_or(Bson::Null);
        let (new, op, desc, amb) = match &kind {
            UpdateKind::Operators(ops) => {
                let a: Applied = apply_operators(&old, ops)?;
                let desc = a.description();
                (a.doc, OpKind::Update, Some(desc), Some(a.disambiguated))
            }
            UpdateKind::Pipeline(stages) => {
                let new = crate::delta::apply_pipeline(&old, stages)?;
                let (desc, amb) = crate::delta::diff(&old, &new).description();
                (new, OpKind::Update, Some(desc), Some(amb))
            }
            UpdateKind::Replacement(r) => (replace(&id, r)?, OpKind::Replace, None, None),
        };
        changes.push((slot, id, old, new, op, desc, amb));
    }
    let ns = Namespace::coll(db, coll);
    let images = st.store.get(db, coll).is_some_and(|c| c.images);
    for (slot, id, old, new, op, desc, amb) in changes {
        t.n += 1;
        if new == old {
            continue;
        }
        t.modified += 1;
        if let Some(c) = st.store.get_mut(db, coll) {
            c.put(slot, new.clone());
        }
        let mut c = Change::new(op, ns.clone());
        c.document_key = Some(doc! {"_id": id});
        c.pre_image = Some(old);
        c.post_image = Some(new);
        c.update_description = desc;
        c.disambiguated = amb.filter(|d| !d.is_empty());
        c.images = images;
        st.oplog.append(c);
    }
    Ok(())
}

fn upsert_doc(q: &Document, kind: &UpdateKind) -> Result<Document, CommandError> {
    let mut base = Document::new();
    for (k, v) in q {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
                if let Some(eq) = d.get("$eq") {
                    set_path(&mut base, k, eq.clone())?;
                }
            }
            other => set_path(&mut base, k, other.clone())?,
        }
    }
    let mut d = match kind {
        UpdateKind::Operators(ops) => apply_operators(&base, ops)?.doc,
        UpdateKind::Pipeline(stages) => crate::delta::apply_pipeline(&base, stages)?,
        UpdateKind::Replacement(r) => {
            let mut d = r.clone();
            if let (Some(id), false) = (base.get("_id"), d.contains_key("_id")) {
                d.insert("_id", id.clone());
            }
            d
        }
    };
    if !d.contains_key("_id") {
        let mut with_id = doc! {"_id": ObjectId::new()};
        with_id.extend(std::mem::take(&mut d));
        d = with_id;
    }
    Ok(d)
}

pub(crate) fn delete(shared: &Shared, db: &str, body: &Document) -> CmdResult {
    let coll = req_str(body, "delete")?.to_owned();
    let specs = docs_arg(body, "deletes")?;
    let ordered = opt_bool(body, "ordered").unwrap_or(true);
    let (n, errors) = shared.write(|st| {
        let mut n = 0i64;
        let mut errors = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            match delete_one(st, db, &coll, spec) {
                Ok(k) => n += k,
                Err(e) => {
                    errors.push(write_error(i, &e));
                    if ordered {
                        break;
                    }
                }
            }
        }
        (n, errors)
    });
    Ok(finish(doc! {"n": n}, errors))
}

fn delete_one(st: &mut Db, db: &str, coll: &str, spec: &Document) -> Result<i64, CommandError> {
    let q = opt_doc(spec, "q")?.cloned().unwrap_or_default();
    let limit = opt_i64(spec, "limit")?.unwrap_or(0);
    if !(limit == 0 || limit == 1) {
        return Err(CommandError::new(9, "delete limit must be 0 or 1"));
    }
    let mut slots = Vec::new();
    if let Some(c) = st.store.get(db, coll) {
        for (slot, d) in c.iter() {
            if matches(d, &q)? {
                slots.push(slot);
                if limit == 1 {
                    break;
                }
            }
        }
    }
    let mut n = 0;
    let images = st.store.get(db, coll).is_some_and(|c| c.images);
    for slot in slots {
        let Some(old) = st.store.get_mut(db, coll).and_then(|c| c.remove(slot)) else {
            continue;
        };
        n += 1;
        let mut c = Change::new(OpKind::Delete, Namespace::coll(db, coll));
        c.document_key = Some(doc! {"_id": old.get("_id").cloned().unwrap_or(Bson::Null)});
        c.pre_image = Some(old);
        c.images = images;
        st.oplog.append(c);
    }
    Ok(n)
}
