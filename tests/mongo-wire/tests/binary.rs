//! The `herald-mongo-wire` binary as a separate process, controlled over the wire.

mod common;

use common::{client, coll, ids, next_event, take_events};
use mongodb::bson::doc;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_serves_and_takes_faults_over_the_wire() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-mongo-wire"))
        .args(["--port", "0", "--oplog-capacity", "1000"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut uri = None;
    while let Some(line) = lines.next_line().await.expect("read stdout") {
        if let Some(u) = line.strip_prefix("MONGO_WIRE_URI=") {
            uri = Some(u.to_owned());
            break;
        }
    }
    let c = client(&uri.expect("binary printed its URI")).await;
    let admin = c.database("admin");
    let items = coll(&c, "app", "items");
    let mut cs = items.watch().await.expect("watch");
    items.insert_one(doc! {"_id": 0}).await.expect("insert");
    next_event(&mut cs).await;

    admin
        .run_command(doc! {"heraldFault": "resetStats"})
        .await
        .expect("reset stats");
    admin
        .run_command(doc! {"heraldFault": "failGetMore", "times": 1, "code": 91, "errorLabels": ["ResumableChangeStreamError"]})
        .await
        .expect("failGetMore");
    items.insert_many(ids(1..3)).await.expect("insert");
    assert_eq!(take_events(&mut cs, 2).await.len(), 2);
    let stats = admin
        .run_command(doc! {"heraldStats": 1})
        .await
        .expect("stats");
    let cmds = stats.get_document("commands").expect("commands");
    assert_eq!(
        cmds.get_i64("aggregate").expect("aggregate count"),
        1,
        "{stats}"
    );

    admin
        .run_command(doc! {"heraldFault": "dropConnections"})
        .await
        .expect("dropConnections");
    items
        .insert_one(doc! {"_id": 3})
        .await
        .expect("insert after drop");
    assert_eq!(
        next_event(&mut cs).await.document_key,
        Some(doc! {"_id": 3})
    );

    admin
        .run_command(doc! {"heraldFault": "truncateOplog"})
        .await
        .expect("truncate");
    let err = admin
        .run_command(doc! {"heraldFault": "bogus"})
        .await
        .expect_err("unknown action");
    assert_eq!(common::code(&err), Some(2));
    child.kill().await.expect("kill");
}
