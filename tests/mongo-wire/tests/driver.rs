//! The real `mongodb` driver against the server: CRUD and change streams.

mod common;

use common::{client, code, coll, hex, ids, next_event, start, take_events};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::change_stream::event::OperationType;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};
use std::time::Duration;

#[tokio::test]
async fn crud_round_trip() {
    let (_h, c) = start().await;
    c.database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("ping");
    let info = c
        .database("admin")
        .run_command(doc! {"buildInfo": 1})
        .await
        .expect("buildInfo");
    assert_eq!(info.get_str("version").expect("version"), "6.0.0");
    let items = coll(&c, "app", "items");
    items.insert_many(ids(0..7)).await.expect("insert_many");
    let dup = items
        .insert_one(doc! {"_id": 3})
        .await
        .expect_err("duplicate _id");
    assert!(format!("{dup}").contains("E11000"), "{dup}");

    // Filter + sort + limit, and a small batch size that forces getMores.
    let got: Vec<Document> = items
        .find(doc! {"v": {"$gte": 2, "$lt": 6}})
        .sort(doc! {"v": -1})
        .batch_size(1)
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect");
    let vs: Vec<i32> = got.iter().map(|d| d.get_i32("v").expect("v")).collect();
    assert_eq!(vs, vec![5, 4, 3, 2]);
    let limited: Vec<Document> = items
        .find(doc! {})
        .limit(2)
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(limited.len(), 2);
    let in_list: Vec<Document> = items
        .find(doc! {"_id": {"$in": [1, 6, 99]}})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(in_list.len(), 2);

    let r = items
        .update_one(
            doc! {"_id": 1},
            doc! {"$set": {"tag.name": "x"}, "$inc": {"v": 10}},
        )
        .await
        .expect("update");
    assert_eq!((r.matched_count, r.modified_count), (1, 1));
    let one = items
        .find_one(doc! {"tag.name": "x"})
        .await
        .expect("find_one")
        .expect("found");
    assert_eq!(one.get_i32("v").expect("v"), 11);
    let r = items
        .update_many(doc! {"v": {"$lt": 3}}, doc! {"$set": {"small": true}})
        .await
        .expect("update_many");
    assert_eq!(r.matched_count, 2);
    let r = items
        .update_one(doc! {"_id": 42}, doc! {"$set": {"v": 42}})
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!(r.upserted_id, Some(Bson::Int32(42)));
    items
        .replace_one(doc! {"_id": 2}, doc! {"whole": "new"})
        .await
        .expect("replace");
    let two = items
        .find_one(doc! {"_id": 2})
        .await
        .expect("find_one")
        .expect("found");
    assert_eq!(two, doc! {"_id": 2, "whole": "new"});
    let r = items
        .update_one(doc! {"_id": 3}, doc! {"$unset": {"v": ""}})
        .await
        .expect("unset");
    assert_eq!(r.modified_count, 1);
    assert!(
        items
            .find_one(doc! {"_id": 3, "v": {"$exists": false}})
            .await
            .expect("find")
            .is_some()
    );

    assert_eq!(
        items
            .delete_one(doc! {"_id": {"$gt": 4}})
            .await
            .expect("delete_one")
            .deleted_count,
        1
    );
    assert_eq!(
        items
            .delete_many(doc! {"small": true})
            .await
            .expect("delete_many")
            .deleted_count,
        1
    );
    let left: Vec<Document> = items
        .find(doc! {})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(left.len(), 8 - 2);

    let names = c
        .database("app")
        .list_collection_names()
        .await
        .expect("listCollections");
    assert_eq!(names, vec!["items".to_owned()]);
    let err = c
        .database("app")
        .run_command(doc! {"frobnicate": 1})
        .await
        .expect_err("unknown command");
    assert_eq!(code(&err), Some(59));
    assert!(
        format!("{err}").contains("no such command: 'frobnicate'"),
        "{err}"
    );
}

#[tokio::test]
async fn replica_set_uri_works() {
    let (h, _) = start().await;
    let c = client(&h.replica_set_uri()).await;
    coll(&c, "rs", "c")
        .insert_one(doc! {"a": 1})
        .await
        .expect("insert through replicaSet URI");
    let found = coll(&c, "rs", "c")
        .find_one(doc! {"a": 1})
        .await
        .expect("find through replicaSet URI");
    assert!(found.is_some());
}

#[tokio::test]
async fn collection_stream_sees_all_write_kinds() {
    let (_h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items
        .insert_one(doc! {"_id": 1, "a": 1, "b": 1})
        .await
        .expect("insert");
    items
        .update_one(
            doc! {"_id": 1},
            doc! {"$set": {"a": 2}, "$unset": {"b": ""}},
        )
        .await
        .expect("update");
    items
        .replace_one(doc! {"_id": 1}, doc! {"c": 3})
        .await
        .expect("replace");
    items.delete_one(doc! {"_id": 1}).await.expect("delete");
    coll(&c, "app", "other")
        .insert_one(doc! {"_id": 9})
        .await
        .expect("other collection");

    let events = take_events(&mut cs, 4).await;
    let kinds: Vec<OperationType> = events.iter().map(|e| e.operation_type.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            OperationType::Insert,
            OperationType::Update,
            OperationType::Replace,
            OperationType::Delete
        ]
    );
    for e in &events {
        let ns = e.ns.as_ref().expect("ns");
        assert_eq!((ns.db.as_str(), ns.coll.as_deref()), ("app", Some("items")));
        assert_eq!(e.document_key, Some(doc! {"_id": 1}));
        assert!(e.wall_time.is_some() && e.cluster_time.is_some());
    }
    assert_eq!(
        events[0].full_document,
        Some(doc! {"_id": 1, "a": 1, "b": 1})
    );
    let ud = events[1]
        .update_description
        .as_ref()
        .expect("updateDescription");
    assert_eq!(ud.updated_fields, doc! {"a": 2});
    assert_eq!(ud.removed_fields, vec!["b".to_owned()]);
    assert_eq!(events[1].full_document, None);
    assert_eq!(events[2].full_document, Some(doc! {"_id": 1, "c": 3}));
    assert_eq!(events[3].full_document, None);
    // Tokens and cluster times follow oplog order.
    let tokens: Vec<String> = events.iter().map(|e| hex(&e.id)).collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
    assert!(tokens.iter().all(|t| t.starts_with("82")));
    let times: Vec<_> = events.iter().map(|e| e.cluster_time.expect("ts")).collect();
    assert!(
        times
            .windows(2)
            .all(|w| (w[0].time, w[0].increment) < (w[1].time, w[1].increment))
    );
    // The other collection's insert is not delivered.
    assert!(cs.next_if_any().await.expect("getMore").is_none());
}

#[tokio::test]
async fn full_document_lookup_and_pre_images() {
    let (_h, c) = start().await;
    let items = coll(&c, "app", "items");
    items
        .insert_one(doc! {"_id": 1, "n": 0})
        .await
        .expect("insert");
    // Without changeStreamPreAndPostImages there are no images to give.
    let mut none = items
        .watch()
        .full_document(FullDocumentType::WhenAvailable)
        .full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable)
        .await
        .expect("watch without images");
    items
        .update_one(doc! {"_id": 1}, doc! {"$set": {"n": 0, "x": 1}})
        .await
        .expect("update 0");
    let e = take_events(&mut none, 1).await.remove(0);
    assert_eq!(
        (e.full_document, e.full_document_before_change),
        (None, None)
    );
    c.database("app")
        .run_command(doc! {"collMod": "items", "changeStreamPreAndPostImages": {"enabled": true}})
        .await
        .expect("collMod");
    items
        .update_one(doc! {"_id": 1}, doc! {"$unset": {"x": ""}})
        .await
        .expect("update 0b");
    let mut lookup = items
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .await
        .expect("watch lookup");
    let mut images = items
        .watch()
        .full_document(FullDocumentType::WhenAvailable)
        .full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable)
        .await
        .expect("watch images");
    items
        .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
        .await
        .expect("update 1");
    items
        .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
        .await
        .expect("update 2");

    // updateLookup reads the current document, so both events show n = 2.
    for e in take_events(&mut lookup, 2).await {
        assert_eq!(e.full_document, Some(doc! {"_id": 1, "n": 2}));
    }
    // Recorded images show the document as of each write.
    for (e, n) in take_events(&mut images, 2).await.into_iter().zip(1..) {
        assert_eq!(e.full_document, Some(doc! {"_id": 1, "n": n}));
        assert_eq!(
            e.full_document_before_change,
            Some(doc! {"_id": 1, "n": n - 1})
        );
    }
}

#[tokio::test]
async fn match_filters_server_side() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items
        .watch()
        .pipeline([
            doc! {"$match": {"operationType": {"$in": ["insert"]}, "fullDocument.section": "a"}},
        ])
        .await
        .expect("watch");
    items
        .insert_one(doc! {"_id": 1, "section": "b"})
        .await
        .expect("insert");
    items
        .insert_one(doc! {"_id": 2, "section": "a"})
        .await
        .expect("insert");
    items
        .update_one(doc! {"_id": 2}, doc! {"$set": {"x": 1}})
        .await
        .expect("update");
    items
        .insert_one(doc! {"_id": 3, "section": "a"})
        .await
        .expect("insert");
    let before = h.stats().get_mores();
    let mut got = Vec::new();
    while got.len() < 2 {
        let e = cs.next_if_any().await.expect("getMore");
        got.extend(e.map(|e| e.document_key.expect("key")));
    }
    assert_eq!(got, vec![doc! {"_id": 2}, doc! {"_id": 3}]);
    // One getMore delivered both matching events: nothing was filtered client-side.
    assert_eq!(h.stats().get_mores() - before, 1);
    assert!(cs.next_if_any().await.expect("getMore").is_none());
    let bad = items
        .watch()
        .pipeline([doc! {"$group": {"_id": 1}}])
        .await
        .expect_err("unsupported stage");
    assert_eq!(code(&bad), Some(2));
}

#[tokio::test]
async fn database_and_cluster_streams() {
    let (_h, c) = start().await;
    let mut db_cs = c.database("app").watch().await.expect("db watch");
    let mut all = c.watch().await.expect("cluster watch");
    coll(&c, "app", "a")
        .insert_one(doc! {"_id": 1})
        .await
        .expect("insert");
    coll(&c, "app", "b")
        .insert_one(doc! {"_id": 2})
        .await
        .expect("insert");
    coll(&c, "other", "c")
        .insert_one(doc! {"_id": 3})
        .await
        .expect("insert");
    let db_seen: Vec<String> = take_events(&mut db_cs, 2)
        .await
        .into_iter()
        .map(|e| e.ns.expect("ns").coll.expect("coll"))
        .collect();
    assert_eq!(db_seen, vec!["a", "b"]);
    assert!(
        db_cs.next_if_any().await.expect("getMore").is_none(),
        "other database not delivered"
    );
    let all_seen: Vec<String> = take_events(&mut all, 3)
        .await
        .into_iter()
        .map(|e| e.ns.expect("ns").db)
        .collect();
    assert_eq!(all_seen, vec!["app", "app", "other"]);
}

#[tokio::test]
async fn drop_invalidates_and_start_after_resumes() {
    let (_h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_one(doc! {"_id": 1}).await.expect("insert");
    items.drop().await.expect("drop");
    let kinds: Vec<OperationType> = take_events(&mut cs, 3)
        .await
        .into_iter()
        .map(|e| e.operation_type)
        .collect();
    assert_eq!(
        kinds,
        vec![
            OperationType::Insert,
            OperationType::Drop,
            OperationType::Invalidate
        ]
    );
    assert!(!cs.is_alive(), "the cursor closes after invalidate");
    let invalidate = cs.resume_token().expect("invalidate token");

    let err = items
        .watch()
        .resume_after(invalidate.clone())
        .await
        .expect_err("resumeAfter invalidate");
    assert_eq!(code(&err), Some(260));

    let mut after = items
        .watch()
        .start_after(invalidate)
        .await
        .expect("startAfter invalidate");
    items
        .insert_one(doc! {"_id": 2})
        .await
        .expect("insert into recreated collection");
    let e = next_event(&mut after).await;
    assert_eq!(e.document_key, Some(doc! {"_id": 2}));
}

#[tokio::test]
async fn rename_invalidates() {
    let (_h, c) = start().await;
    let items = coll(&c, "app", "items");
    items.insert_one(doc! {"_id": 1}).await.expect("insert");
    let mut cs = items.watch().await.expect("watch");
    c.database("admin")
        .run_command(doc! {"renameCollection": "app.items", "to": "app.renamed"})
        .await
        .expect("rename");
    let e = next_event(&mut cs).await;
    assert_eq!(e.operation_type, OperationType::Rename);
    assert_eq!(e.to.expect("to").coll.as_deref(), Some("renamed"));
    let e = next_event(&mut cs).await;
    assert_eq!(e.operation_type, OperationType::Invalidate);
    assert_eq!(
        coll(&c, "app", "renamed")
            .find_one(doc! {})
            .await
            .expect("find"),
        Some(doc! {"_id": 1})
    );
}

#[tokio::test]
async fn idle_get_more_advances_post_batch_token() {
    let (_h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items
        .watch()
        .max_await_time(Duration::from_millis(50))
        .await
        .expect("watch");
    assert!(cs.next_if_any().await.expect("getMore").is_none());
    let t1 = hex(&cs.resume_token().expect("token after empty batch"));
    // A write elsewhere moves the high-water mark past it.
    coll(&c, "app", "other")
        .insert_one(doc! {"_id": 1})
        .await
        .expect("insert");
    assert!(cs.next_if_any().await.expect("getMore").is_none());
    let t2 = hex(&cs.resume_token().expect("token"));
    assert!(t2 > t1, "{t2} should sort after {t1}");
    // With no writes at all the cluster time still advances with the clock.
    let mut t3 = t2.clone();
    for _ in 0..100 {
        assert!(cs.next_if_any().await.expect("getMore").is_none());
        t3 = hex(&cs.resume_token().expect("token"));
        if t3 != t2 {
            break;
        }
    }
    assert!(t3 > t2, "idle token never advanced");
    // Resuming from the high-water mark yields exactly the later events.
    let token = cs.resume_token().expect("token");
    drop(cs);
    items.insert_one(doc! {"_id": 7}).await.expect("insert");
    let mut resumed = items.watch().resume_after(token).await.expect("resume");
    let e = next_event(&mut resumed).await;
    assert_eq!(e.document_key, Some(doc! {"_id": 7}));
    assert!(resumed.next_if_any().await.expect("getMore").is_none());
}
