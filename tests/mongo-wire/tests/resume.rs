//! Resumability under injected faults, through the real driver.

mod common;

use common::{code, coll, hex, ids, next_event, start, start_with, take_events};
use herald_mongo_wire::Config;
use mongodb::bson::{Bson, Document, doc};
use mongodb::change_stream::event::ResumeToken;

fn id_of(e: &mongodb::change_stream::event::ChangeStreamEvent<Document>) -> i32 {
    e.document_key
        .as_ref()
        .and_then(|k| k.get_i32("_id").ok())
        .expect("int _id")
}

#[tokio::test]
async fn dropped_connection_resumes_without_loss_or_duplicates() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_many(ids(0..3)).await.expect("insert");
    let mut seen: Vec<i32> = take_events(&mut cs, 1).await.iter().map(id_of).collect();
    // Dropped between getMores: the cursor survives on the server.
    h.drop_connections();
    items
        .insert_many(ids(3..6))
        .await
        .expect("insert after drop");
    seen.extend(take_events(&mut cs, 5).await.iter().map(id_of));
    // Dropped while a getMore is waiting on the server: the driver resumes.
    let aggregates = h.stats().aggregates();
    let get_mores = h.stats().get_mores();
    let dropper = async {
        while h.stats().get_mores() == get_mores {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        h.drop_connections();
    };
    let (idle, ()) = tokio::join!(cs.next_if_any(), dropper);
    assert!(idle.expect("resumed after network error").is_none());
    assert_eq!(
        h.stats().aggregates(),
        aggregates + 1,
        "the driver re-ran the aggregate once"
    );
    items
        .insert_many(ids(6..9))
        .await
        .expect("insert after second drop");
    seen.extend(take_events(&mut cs, 3).await.iter().map(id_of));
    assert_eq!(seen, (0..9).collect::<Vec<_>>());
    assert!(
        cs.next_if_any().await.expect("getMore").is_none(),
        "no duplicates"
    );
}

#[tokio::test]
async fn resumable_get_more_error_is_retried_once() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_one(doc! {"_id": 0}).await.expect("insert");
    assert_eq!(id_of(&next_event(&mut cs).await), 0);
    h.fail_next_get_mores(1, 91, &["ResumableChangeStreamError"]);
    items.insert_many(ids(1..4)).await.expect("insert");
    let before = h.stats();
    let got: Vec<i32> = take_events(&mut cs, 3).await.iter().map(id_of).collect();
    assert_eq!(got, vec![1, 2, 3]);
    let after = h.stats();
    assert_eq!(
        after.aggregates() - before.aggregates(),
        1,
        "exactly one resume"
    );
    assert!(
        cs.next_if_any().await.expect("getMore").is_none(),
        "no duplicates"
    );
}

#[tokio::test]
async fn unlabelled_error_is_not_resumed() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    let _ = cs.next_if_any().await.expect("first batch");
    h.fail_next_get_mores(1, 91, &[]);
    let err = cs
        .next_if_any()
        .await
        .expect_err("no label, wire version 17: not resumable");
    assert_eq!(code(&err), Some(91));
}

#[tokio::test]
async fn history_lost_after_truncation_is_not_resumable() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_one(doc! {"_id": 0}).await.expect("insert");
    let first = next_event(&mut cs).await;
    items
        .insert_many(ids(1..3))
        .await
        .expect("insert unread events");
    h.truncate_oplog();
    let aggregates = h.stats().aggregates();
    let err = cs.next_if_any().await.expect_err("history lost");
    assert_eq!(code(&err), Some(286));
    assert!(err.contains_label("NonResumableChangeStreamError"));
    assert_eq!(
        h.stats().aggregates(),
        aggregates,
        "the driver must not retry"
    );

    let err = items
        .watch()
        .resume_after(first.id)
        .await
        .expect_err("old token");
    assert_eq!(code(&err), Some(286));
}

#[tokio::test]
async fn an_injected_286_on_get_more_loses_the_history_for_good() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_one(doc! {"_id": 0}).await.expect("insert");
    let first = next_event(&mut cs).await;
    // The stream is idle at the very end of the oplog: its newest position.
    assert!(cs.next_if_any().await.expect("idle getMore").is_none());
    let idle = cs.resume_token().expect("a postBatchResumeToken");
    h.reset_stats();
    h.fail_next_get_mores(1, 286, &["NonResumableChangeStreamError"]);
    let err = cs.next_if_any().await.expect_err("injected 286");
    assert_eq!(code(&err), Some(286));
    // A resume from either position is refused like on a real replica set.
    for t in [first.id.clone(), idle.clone()] {
        let err = items
            .watch()
            .resume_after(t)
            .await
            .expect_err("the position is gone");
        assert_eq!(code(&err), Some(286));
    }
    // From now it works, and sees new writes.
    let mut fresh = items.watch().await.expect("a fresh stream");
    items.insert_one(doc! {"_id": 1}).await.expect("insert");
    assert_eq!(id_of(&next_event(&mut fresh).await), 1);
    // The log keeps each aggregate's resume argument and result.
    let s = h.stats();
    let log: Vec<(Option<String>, Option<i32>)> = s
        .aggregate_log()
        .iter()
        .map(|r| (r.resume_token().map(str::to_owned), r.error_code))
        .collect();
    assert_eq!(
        log,
        [
            (Some(hex(&first.id)), Some(286)),
            (Some(hex(&idle)), Some(286)),
            (None, None),
        ]
    );
    let gm = s
        .log
        .iter()
        .find(|r| r.name == "getMore")
        .expect("getMore logged");
    assert_eq!(gm.error_code, Some(286));
}

#[tokio::test]
async fn retention_limit_loses_old_tokens() {
    let (_h, c) = start_with(Config {
        oplog_capacity: 4,
        ..Config::default()
    })
    .await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_one(doc! {"_id": 0}).await.expect("insert");
    let old = next_event(&mut cs).await.id;
    items
        .insert_many(ids(1..4))
        .await
        .expect("insert within capacity");
    let mut ok = items
        .watch()
        .resume_after(old.clone())
        .await
        .expect("still retained");
    assert_eq!(
        take_events(&mut ok, 3)
            .await
            .iter()
            .map(id_of)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    items
        .insert_many(ids(4..6))
        .await
        .expect("insert past capacity");
    let err = items
        .watch()
        .resume_after(old)
        .await
        .expect_err("rolled off");
    assert_eq!(code(&err), Some(286));
}

#[tokio::test]
async fn malformed_token_is_invalid() {
    let (_h, c) = start().await;
    let items = coll(&c, "app", "items");
    for data in ["nothex", "82", "00000000000000000000000000000000000000"] {
        let token: ResumeToken =
            mongodb::bson::from_bson(Bson::Document(doc! {"_data": data})).expect("token");
        let err = items
            .watch()
            .resume_after(token)
            .await
            .expect_err("malformed");
        assert_eq!(code(&err), Some(260), "{data}");
    }
}

#[tokio::test]
async fn fail_point_over_the_wire_closes_connection_and_stream_resumes() {
    let (h, c) = start().await;
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    let _ = cs.next_if_any().await.expect("first batch");
    c.database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["getMore"], "closeConnection": true},
        })
        .await
        .expect("configureFailPoint");
    items.insert_many(ids(0..2)).await.expect("insert");
    let got: Vec<i32> = take_events(&mut cs, 2).await.iter().map(id_of).collect();
    assert_eq!(got, vec![0, 1]);
    assert!(h.stats().aggregates() >= 2);
}

#[tokio::test]
async fn reply_delay_slows_replies() {
    let (h, c) = start().await;
    let admin = c.database("admin");
    admin.run_command(doc! {"ping": 1}).await.expect("warm up");
    h.set_reply_delay(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    admin.run_command(doc! {"ping": 1}).await.expect("ping");
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    h.clear_faults();
}
