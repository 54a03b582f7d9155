//! Fault injection and stats over the wire, for tests in another process.
//!
//! - `{configureFailPoint: "failCommand", mode: "off"|"alwaysOn"|{times: n},
//!   data: {failCommands: [...], errorCode, errorLabels, closeConnection, blockConnection, blockTimeMS}}`
//!   (MongoDB's own test fail point shape).
//! - `{heraldFault: "dropConnections"}`, `{heraldFault: "truncateOplog"}`,
//!   `{heraldFault: "delayReplies", ms: n}`, `{heraldFault: "refuseConnections", ms: n}`,
//!   `{heraldFault: "failGetMore", times: n, code: c, errorLabels: [...]}`,
//!   `{heraldFault: "clear"}` (clears fail point, delay and refusal), `{heraldFault: "resetStats"}`.
//! - `{heraldStats: 1}` returns `{commands: {name: count}, connectionsAccepted, connectionsRefused}`.
//!
//! All run against any database; `admin` is conventional.

use super::{as_i64, opt_bool, opt_doc, opt_i64, req_str};
use crate::error::{CmdResult, CommandError};
use crate::faults::FailCommand;
use crate::state::Shared;
use mongodb::bson::{Bson, Document};
use std::time::Duration;

fn strings(v: Option<&Bson>) -> Vec<String> {
    match v {
        Some(Bson::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn millis(body: &Document, key: &str) -> Result<Duration, CommandError> {
    let ms = opt_i64(body, key)?
        .ok_or_else(|| CommandError::bad_value(format!("'{key}' is required")))?;
    Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

pub(crate) fn configure_fail_point(shared: &Shared, body: &Document) -> CmdResult {
    let name = req_str(body, "configureFailPoint")?;
    if name != "failCommand" {
        return Err(CommandError::bad_value(format!(
            "unsupported fail point {name}"
        )));
    }
    let times = match body.get("mode") {
        Some(Bson::String(m)) if m == "off" => {
            shared.faults.set_fail(None);
            return Ok(Document::new());
        }
        Some(Bson::String(m)) if m == "alwaysOn" => None,
        Some(Bson::Document(d)) => {
            let n = d
                .get("times")
                .and_then(as_i64)
                .ok_or_else(|| CommandError::bad_value("mode.times is required"))?;
            Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
        }
        _ => {
            return Err(CommandError::bad_value(
                "mode must be off, alwaysOn or {times: n}",
            ));
        }
    };
    let data = opt_doc(body, "data")?.cloned().unwrap_or_default();
    let block = if opt_bool(&data, "blockConnection").unwrap_or(false) {
        Some(millis(&data, "blockTimeMS")?)
    } else {
        None
    };
    let fail = FailCommand {
        commands: strings(data.get("failCommands")),
        times,
        error_code: opt_i64(&data, "errorCode")?.and_then(|c| i32::try_from(c).ok()),
        error_labels: strings(data.get("errorLabels")),
        close_connection: opt_bool(&data, "closeConnection").unwrap_or(false),
        block,
    };
    if fail.commands.is_empty() {
        return Err(CommandError::bad_value(
            "data.failCommands must list commands",
        ));
    }
    shared.faults.set_fail(Some(fail));
    Ok(Document::new())
}

pub(crate) fn herald_fault(shared: &Shared, body: &Document) -> CmdResult {
    match req_str(body, "heraldFault")? {
        "dropConnections" => shared.faults.drop_connections(),
        "truncateOplog" => shared.db.lock().oplog.truncate(),
        "delayReplies" => shared.faults.set_reply_delay(millis(body, "ms")?),
        "refuseConnections" => shared.faults.refuse_for(millis(body, "ms")?),
        "failGetMore" => {
            let times = opt_i64(body, "times")?.unwrap_or(1);
            let code = opt_i64(body, "code")?.unwrap_or(91);
            let labels = strings(body.get("errorLabels"));
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            shared.faults.set_fail(Some(FailCommand::get_more(
                u32::try_from(times.max(0)).unwrap_or(u32::MAX),
                i32::try_from(code).map_err(|_| CommandError::bad_value("code out of range"))?,
                &labels,
            )));
        }
        "clear" => shared.faults.clear(),
        "resetStats" => shared.stats.reset(),
        other => {
            return Err(CommandError::bad_value(format!(
                "unknown heraldFault action {other}"
            )));
        }
    }
    Ok(Document::new())
}

pub(crate) fn herald_stats(shared: &Shared) -> Document {
    shared.stats.snapshot().to_doc()
}
