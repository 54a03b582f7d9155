//! `updateDescription` shapes from MongoDB's change-stream specification
//! tests (`tests/fixtures/README.md`): `herald-mongo-wire` reports them as
//! a real server does, and the router's patch built from each, applied as a
//! client applies it, gives the document after the update.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use futures_util::StreamExt;
use herald_mongo_wire::{Config, MongoWireServer};
use herald_protocol::collection::apply::patched;
use herald_router::collection::doc::json_to_bson;
use herald_router::collection::patch::from_update_description;
use herald_router::convert::document_to_json;
use mongodb::bson::{Bson, Document, RawDocumentBuf, doc};
use mongodb::options::FullDocumentType;
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let text = include_str!("fixtures/update_descriptions.json");
    serde_json::from_str(text).unwrap()
}

fn bson_doc(v: &Value) -> Document {
    match json_to_bson(v) {
        Bson::Document(d) => d,
        other => panic!("not a document: {other}"),
    }
}

#[test]
fn the_router_patch_of_each_description_turns_before_into_after() {
    for f in fixtures() {
        let Some(ud) = f.get("updateDescription") else {
            continue;
        };
        let raw = RawDocumentBuf::from_document(&bson_doc(ud)).unwrap();
        let patch = from_update_description(&raw).unwrap();
        let after = patched(&f["before"], &patch).unwrap();
        assert_eq!(after, f["after"], "{}", f["name"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_server_reports_each_shape_as_a_real_server_does() {
    let h = MongoWireServer::start(Config::default()).await.unwrap();
    let client = mongodb::Client::with_uri_str(h.uri()).await.unwrap();
    let db = client.database("spec");
    for (i, f) in fixtures().iter().enumerate() {
        let name = format!("c{i}");
        let images = f.get("images").and_then(Value::as_bool).unwrap_or(false);
        db.run_command(doc! {"create": &name, "changeStreamPreAndPostImages": {"enabled": images}})
            .await
            .unwrap();
        let coll = db.collection::<Document>(&name);
        coll.insert_one(bson_doc(&f["before"])).await.unwrap();
        let mut watch = coll
            .watch()
            .show_expanded_events(f["expanded"].as_bool().unwrap_or(false));
        if f.get("fullDocument").is_some() {
            watch = watch.full_document(FullDocumentType::WhenAvailable);
        }
        let mut cs = watch.await.unwrap();
        let q = doc! {"_id": 1_i64};
        match (f.get("update"), f.get("pipeline")) {
            (Some(u), _) => coll.update_one(q, bson_doc(u)).await.unwrap(),
            (None, Some(Value::Array(p))) => coll
                .update_one(q, p.iter().map(bson_doc).collect::<Vec<_>>())
                .await
                .unwrap(),
            _ => panic!("fixture {} has no update", f["name"]),
        };
        let ev = tokio::time::timeout(std::time::Duration::from_secs(10), cs.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(want) = f.get("updateDescription") {
            let ud = ev.update_description.unwrap();
            let mut got = doc! {
                "updatedFields": ud.updated_fields,
                "removedFields": ud.removed_fields,
                "truncatedArrays": ud.truncated_arrays.unwrap_or_default().iter()
                    .map(|t| doc! {"field": &t.field, "newSize": t.new_size})
                    .collect::<Vec<_>>(),
            };
            if let Some(p) = ud.disambiguated_paths {
                got.insert("disambiguatedPaths", p);
            }
            assert_eq!(&document_to_json(&got).unwrap(), want, "{}", f["name"]);
        }
        if let Some(want) = f.get("fullDocument") {
            let got = ev
                .full_document
                .map_or(Value::Null, |d| document_to_json(&d).unwrap());
            assert_eq!(&got, want, "{}", f["name"]);
        }
        let now = coll.find_one(doc! {}).await.unwrap().unwrap();
        assert_eq!(document_to_json(&now).unwrap(), f["after"], "{}", f["name"]);
    }
}
