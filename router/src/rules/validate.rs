//! Checks a rules file and builds [`Rules`], naming the scope or rule and
//! the field at fault.

use std::collections::HashSet;

use mongodb::bson::{Bson, Document};
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};

use super::collection::check_collection;
use super::matcher::{LOGICAL, OPERATORS};
use super::model::{Op, Payload, Rule, RuleSpec, Rules, RulesFile, Scope, ScopeSpec, Target};
use super::template::Template;

/// Why a rules file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Not TOML, or a table has an unknown or mistyped key.
    #[error("rules file: {0}")]
    Syntax(String),
    /// A scope or rule field is not acceptable.
    #[error("{kind} `{name}`: field `{field}`: {message}")]
    Field {
        /// `scope`, `rule` or `collection`.
        kind: &'static str,
        /// The scope's or rule's name.
        name: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No `[[scope]]` at all.
    #[error("rules file: no [[scope]] defined")]
    NoScope,
}

fn scope_err(name: &str, field: &'static str, message: impl Into<String>) -> RulesError {
    RulesError::Field {
        kind: "scope",
        name: name.to_owned(),
        field,
        message: message.into(),
    }
}

pub(super) fn collection_err(
    name: &str,
    field: &'static str,
    message: impl Into<String>,
) -> RulesError {
    RulesError::Field {
        kind: "collection",
        name: name.to_owned(),
        field,
        message: message.into(),
    }
}

pub(super) fn rule_err(name: &str, field: &'static str, message: impl Into<String>) -> RulesError {
    RulesError::Field {
        kind: "rule",
        name: name.to_owned(),
        field,
        message: message.into(),
    }
}

/// Whether `s` may name a scope (it becomes a Redis key part and bus source id).
fn valid_scope_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Parses and checks a rules file.
///
/// # Errors
/// [`RulesError`] naming the first scope or rule (and field) at fault.
pub fn parse_rules(text: &str) -> Result<Rules, RulesError> {
    let file: RulesFile = toml::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?;
    if file.scope.is_empty() {
        return Err(RulesError::NoScope);
    }
    let mut scopes = Vec::with_capacity(file.scope.len());
    let mut names = HashSet::new();
    for s in &file.scope {
        if !names.insert(s.name.clone()) {
            return Err(scope_err(&s.name, "name", "defined twice"));
        }
        scopes.push(check_scope(s)?);
    }
    let mut rule_names = HashSet::new();
    for r in &file.rule {
        if !rule_names.insert(r.name.clone()) {
            return Err(rule_err(&r.name, "name", "defined twice"));
        }
        let scope = scopes
            .iter_mut()
            .find(|s| s.name == r.scope)
            .ok_or_else(|| rule_err(&r.name, "scope", format!("unknown scope `{}`", r.scope)))?;
        let rule = check_rule(r, &scope.target)?;
        scope.rules.push(rule);
    }
    let mut rooms = HashSet::new();
    for c in &file.collection {
        if !rule_names.insert(c.name.clone()) {
            return Err(collection_err(&c.name, "name", "defined twice"));
        }
        let scope = scopes
            .iter_mut()
            .find(|s| s.name == c.scope)
            .ok_or_else(|| {
                collection_err(&c.name, "scope", format!("unknown scope `{}`", c.scope))
            })?;
        let coll = check_collection(c, &scope.target)?;
        if !rooms.insert(coll.room.source().to_owned()) {
            return Err(collection_err(
                &c.name,
                "room",
                format!("room `{}` is already another collection's", c.room),
            ));
        }
        scope.collections.push(coll);
    }
    if let Some(s) = scopes
        .iter()
        .find(|s| s.rules.is_empty() && s.collections.is_empty())
    {
        return Err(scope_err(&s.name, "name", "no rule uses this scope"));
    }
    Ok(Rules { scopes })
}

fn check_scope(s: &ScopeSpec) -> Result<Scope, RulesError> {
    if !valid_scope_name(&s.name) {
        return Err(scope_err(
            &s.name,
            "name",
            "must be 1-64 characters of A-Z a-z 0-9 _ - .",
        ));
    }
    let target = match (&s.db, &s.coll) {
        (None, None) => Target::Deployment,
        (Some(db), None) if !db.is_empty() => Target::Database(db.clone()),
        (Some(db), Some(c)) if !db.is_empty() && !c.is_empty() => {
            Target::Collection(db.clone(), c.clone())
        }
        (None, Some(_)) => return Err(scope_err(&s.name, "coll", "needs `db`")),
        _ => return Err(scope_err(&s.name, "db", "must not be empty")),
    };
    let full_document = match s.full_document.as_deref() {
        None => None,
        Some("updateLookup") => Some(FullDocumentType::UpdateLookup),
        Some("whenAvailable") => Some(FullDocumentType::WhenAvailable),
        Some("required") => Some(FullDocumentType::Required),
        Some(o) => {
            return Err(scope_err(
                &s.name,
                "full_document",
                format!("`{o}` is not updateLookup, whenAvailable or required"),
            ));
        }
    };
    let full_document_before_change = match s.full_document_before_change.as_deref() {
        None => None,
        Some("whenAvailable") => Some(FullDocumentBeforeChangeType::WhenAvailable),
        Some("required") => Some(FullDocumentBeforeChangeType::Required),
        Some("off") => Some(FullDocumentBeforeChangeType::Off),
        Some(o) => {
            return Err(scope_err(
                &s.name,
                "full_document_before_change",
                format!("`{o}` is not whenAvailable, required or off"),
            ));
        }
    };
    Ok(Scope {
        name: s.name.clone(),
        target,
        full_document,
        full_document_before_change,
        rules: Vec::new(),
        collections: Vec::new(),
    })
}

/// Splits a `db.coll` namespace and checks that a scope watching `target`
/// (named `scope`) sees it; the message says what is wrong, for the caller
/// to name its table and field.
pub(super) fn split_ns<'a>(
    ns: &'a str,
    scope: &str,
    target: &Target,
) -> Result<(&'a str, &'a str), String> {
    let (db, coll) = ns
        .split_once('.')
        .filter(|(d, c)| !d.is_empty() && !c.is_empty())
        .ok_or_else(|| format!("`{ns}` is not `db.coll`"))?;
    let inside = match target {
        Target::Deployment => true,
        Target::Database(d) => d == db,
        Target::Collection(d, c) => d == db && c == coll,
    };
    if !inside {
        return Err(format!("`{ns}` is outside scope `{scope}`"));
    }
    Ok((db, coll))
}

fn check_rule(r: &RuleSpec, target: &Target) -> Result<Rule, RulesError> {
    let n = &r.name;
    let (db, coll) = split_ns(&r.ns, &r.scope, target).map_err(|m| rule_err(n, "ns", m))?;
    if r.ops.is_empty() {
        return Err(rule_err(n, "ops", "must list at least one operation"));
    }
    let ops = r
        .ops
        .iter()
        .map(|o| {
            Op::parse(o).ok_or_else(|| {
                rule_err(
                    n,
                    "ops",
                    format!("`{o}` is not insert, update, replace or delete"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = match &r.filter {
        None => Document::new(),
        Some(t) => {
            let d = table_to_doc(t);
            check_filter(&d).map_err(|m| rule_err(n, "filter", m))?;
            d
        }
    };
    if r.rooms.is_empty() {
        return Err(rule_err(n, "rooms", "must list at least one room template"));
    }
    let rooms = r
        .rooms
        .iter()
        .map(|t| Template::parse(t).map_err(|m| rule_err(n, "rooms", m)))
        .collect::<Result<Vec<_>, _>>()?;
    if r.event.is_empty() || r.event.len() > 128 {
        return Err(rule_err(n, "event", "must be 1-128 bytes"));
    }
    let payload = match &r.payload {
        None => Payload::FullDocument,
        Some(toml::Value::String(s)) => match s.as_str() {
            "full_document" => Payload::FullDocument,
            "update_description" => Payload::UpdateDescription,
            "event" => Payload::Event,
            o => {
                return Err(rule_err(
                    n,
                    "payload",
                    format!(
                        "unknown payload kind `{o}` (full_document, update_description, event or {{ project = [...] }})"
                    ),
                ));
            }
        },
        Some(toml::Value::Table(t)) => match (t.len(), t.get("project")) {
            (1, Some(toml::Value::Array(a))) if !a.is_empty() => Payload::Project(
                a.iter()
                    .map(|v| match v {
                        toml::Value::String(s) if !s.is_empty() => Ok(s.clone()),
                        _ => Err(rule_err(
                            n,
                            "payload",
                            "project paths must be non-empty strings",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(rule_err(
                    n,
                    "payload",
                    "a table payload must be { project = [\"path\", ...] }",
                ));
            }
        },
        Some(_) => {
            return Err(rule_err(
                n,
                "payload",
                "must be a string or { project = [...] }",
            ));
        }
    };
    Ok(Rule {
        name: n.clone(),
        db: db.to_owned(),
        coll: coll.to_owned(),
        ops,
        filter,
        rooms,
        event: r.event.clone(),
        payload,
    })
}

pub(super) fn check_filter(d: &Document) -> Result<(), String> {
    for (k, v) in d {
        if k.starts_with('$') {
            if !LOGICAL.contains(&k.as_str()) {
                return Err(format!(
                    "unsupported operator `{k}` (use {})",
                    LOGICAL.join(" ")
                ));
            }
            let Bson::Array(items) = v else {
                return Err(format!("`{k}` needs an array of tables"));
            };
            for i in items {
                let Bson::Document(sub) = i else {
                    return Err(format!("`{k}` needs an array of tables"));
                };
                check_filter(sub)?;
            }
        } else if let Bson::Document(ops) = v {
            let dollar = ops.keys().filter(|o| o.starts_with('$')).count();
            if dollar > 0 && dollar != ops.len() {
                return Err(format!("`{k}` mixes operators and fields"));
            }
            if let Some(bad) = ops
                .keys()
                .find(|o| o.starts_with('$') && !OPERATORS.contains(&o.as_str()))
            {
                return Err(format!(
                    "unsupported operator `{bad}` on `{k}` (use {})",
                    OPERATORS.join(" ")
                ));
            }
        }
    }
    Ok(())
}

/// TOML to BSON: integers are int64, datetimes strings.
fn toml_to_bson(v: &toml::Value) -> Bson {
    match v {
        toml::Value::String(s) => Bson::String(s.clone()),
        toml::Value::Integer(i) => Bson::Int64(*i),
        toml::Value::Float(f) => Bson::Double(*f),
        toml::Value::Boolean(b) => Bson::Boolean(*b),
        toml::Value::Datetime(d) => Bson::String(d.to_string()),
        toml::Value::Array(a) => Bson::Array(a.iter().map(toml_to_bson).collect()),
        toml::Value::Table(t) => Bson::Document(table_to_doc(t)),
    }
}

pub(super) fn table_to_doc(t: &toml::Table) -> Document {
    t.iter()
        .map(|(k, v)| (k.clone(), toml_to_bson(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const GOOD: &str = r#"
[[scope]]
name = "shop"
db = "shop"
full_document = "updateLookup"

[[rule]]
name = "orders"
scope = "shop"
ns = "shop.orders"
ops = ["insert", "update"]
filter = { "fullDocument.status" = { "$in" = ["paid", "shipped"] } }
rooms = ["dashboard:{fullDocument.section}", "orders:all"]
event = "dashboard:update"
payload = { project = ["total", "section"] }
"#;

    fn with(from: &str, to: &str) -> String {
        GOOD.replace(from, to)
    }

    fn err(text: &str) -> String {
        parse_rules(text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_file_builds_one_stream_per_scope() {
        let r = parse_rules(GOOD).unwrap();
        assert_eq!(r.scopes.len(), 1);
        let s = &r.scopes[0];
        assert_eq!(s.target, Target::Database("shop".into()));
        assert_eq!(s.rules[0].ops, vec![Op::Insert, Op::Update]);
        assert_eq!(
            s.rules[0].payload,
            Payload::Project(vec!["total".into(), "section".into()])
        );
        let p = s.pipeline();
        assert_eq!(p.len(), 1);
        let or = p[0]
            .get_document("$match")
            .unwrap()
            .get_array("$or")
            .unwrap();
        assert_eq!(or.len(), 2, "one clause per rule plus stream-ending events");
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        assert_eq!(
            err(&with("scope = \"shop\"", "scope = \"nope\"")),
            "rule `orders`: field `scope`: unknown scope `nope`"
        );
        assert!(
            err(&with("ops = [\"insert\", \"update\"]", "ops = []"))
                .starts_with("rule `orders`: field `ops`")
        );
        assert!(err(&with("\"insert\", \"update\"", "\"upsert\"")).contains("`upsert` is not"));
        assert!(
            err(&with("{fullDocument.section}", "{fullDocument.section"))
                .starts_with("rule `orders`: field `rooms`: unclosed")
        );
        assert!(err(&with("orders:all", "orders all")).starts_with("rule `orders`: field `rooms`"));
        assert!(
            err(&with(
                "payload = { project = [\"total\", \"section\"] }",
                "payload = \"whole\""
            ))
            .contains("unknown payload kind `whole`")
        );
        assert!(
            err(&with("\"$in\"", "\"$regex\""))
                .starts_with("rule `orders`: field `filter`: unsupported operator `$regex`")
        );
        assert!(
            err(&with("ns = \"shop.orders\"", "ns = \"other.orders\"")).contains("outside scope")
        );
        assert!(
            err(&with("ns = \"shop.orders\"", "ns = \"shoporders\""))
                .starts_with("rule `orders`: field `ns`")
        );
        assert!(
            err(&with(
                "full_document = \"updateLookup\"",
                "full_document = \"always\""
            ))
            .starts_with("scope `shop`: field `full_document`")
        );
        assert!(
            err(&with("name = \"shop\"", "name = \"sh op\""))
                .starts_with("scope `sh op`: field `name`")
        );
        assert!(err(&with("event = \"dashboard:update\"", "evnt = \"x\"")).contains("evnt"));
        assert!(err("x = 1").contains("unknown field `x`"));
        assert_eq!(err(""), "rules file: no [[scope]] defined");
    }
}
