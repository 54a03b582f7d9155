//! The rules file as written ([`RulesFile`]) and the checked rules ([`Rules`]).

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};
use serde::Deserialize;

use super::template::Template;

/// The TOML file: `[[scope]]` and `[[rule]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// One change stream each.
    #[serde(default)]
    pub scope: Vec<ScopeSpec>,
    /// Routing rules, each in one scope.
    #[serde(default)]
    pub rule: Vec<RuleSpec>,
    /// Live collections, each in one scope.
    #[serde(default)]
    pub collection: Vec<super::collection::CollectionSpec>,
}

/// A `[[scope]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    /// Unique name; the bus source id and part of the Redis keys.
    pub name: String,
    /// Database watched; absent: the whole deployment.
    pub db: Option<String>,
    /// Collection watched; absent: the whole database.
    pub coll: Option<String>,
    /// `updateLookup`, `whenAvailable` or `required`.
    pub full_document: Option<String>,
    /// `whenAvailable` or `required`.
    pub full_document_before_change: Option<String>,
}

/// A `[[rule]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name, used in messages and logs.
    pub name: String,
    /// The scope whose stream feeds the rule.
    pub scope: String,
    /// `db.coll` the rule applies to.
    pub ns: String,
    /// Operations: `insert`, `update`, `replace`, `delete`.
    pub ops: Vec<String>,
    /// A MongoDB match document on the change event.
    #[serde(default)]
    pub filter: Option<toml::Table>,
    /// Room-name templates.
    pub rooms: Vec<String>,
    /// The event name subscribers see.
    pub event: String,
    /// What the message carries; default `full_document`.
    #[serde(default)]
    pub payload: Option<toml::Value>,
}

/// What a scope's change stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every database.
    Deployment,
    /// One database.
    Database(String),
    /// One collection: database, collection.
    Collection(String, String),
}

/// A change-event operation a rule can route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `insert`.
    Insert,
    /// `update`.
    Update,
    /// `replace`.
    Replace,
    /// `delete`.
    Delete,
}

impl Op {
    /// The `operationType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
        }
    }

    /// Parses an `operationType` string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "insert" => Self::Insert,
            "update" => Self::Update,
            "replace" => Self::Replace,
            "delete" => Self::Delete,
            _ => return None,
        })
    }
}

/// What a routed message carries as its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `fullDocument` (for a delete: `fullDocumentBeforeChange` when present,
    /// otherwise `{"_id": ..., "_deleted": true}`).
    FullDocument,
    /// `updateDescription` (`null` for other operations).
    UpdateDescription,
    /// The whole change event.
    Event,
    /// These dotted paths of `fullDocument`, nested as in the document.
    Project(Vec<String>),
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// Database of its namespace.
    pub db: String,
    /// Collection of its namespace.
    pub coll: String,
    /// Operations it routes.
    pub ops: Vec<Op>,
    /// Its match document on the change event (may be empty).
    pub filter: Document,
    /// Room templates.
    pub rooms: Vec<Template>,
    /// Event name.
    pub event: String,
    /// Payload kind.
    pub payload: Payload,
}

impl Rule {
    /// This rule's clause in the scope's `$match`.
    pub fn match_clause(&self) -> Document {
        let ops: Vec<Bson> = self.ops.iter().map(|o| Bson::from(o.as_str())).collect();
        let base = doc! {
            "ns.db": &self.db,
            "ns.coll": &self.coll,
            "operationType": { "$in": ops },
        };
        if self.filter.is_empty() {
            base
        } else {
            doc! { "$and": [base, self.filter.clone()] }
        }
    }
}

/// A checked scope with its rules.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Its name (bus source id).
    pub name: String,
    /// What it watches.
    pub target: Target,
    /// `fullDocument` option.
    pub full_document: Option<FullDocumentType>,
    /// `fullDocumentBeforeChange` option.
    pub full_document_before_change: Option<FullDocumentBeforeChangeType>,
    /// Its rules, in file order.
    pub rules: Vec<Rule>,
    /// Its live collections, in file order.
    pub collections: Vec<super::collection::Collection>,
}

impl Scope {
    /// The pipeline sent with `watch`: one `$match` combining every rule with
    /// `$or`, plus the events that end a stream.
    pub fn pipeline(&self) -> Vec<Document> {
        let mut clauses: Vec<Bson> = self
            .rules
            .iter()
            .map(|r| Bson::Document(r.match_clause()))
            .chain(
                self.collections
                    .iter()
                    .map(|c| Bson::Document(c.match_clause())),
            )
            .collect();
        clauses.push(Bson::Document(doc! {
            "operationType": { "$in": ["invalidate", "drop", "rename", "dropDatabase"] }
        }));
        vec![doc! { "$match": { "$or": clauses } }]
    }
}

/// Every scope of a rules file.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Scopes, in file order.
    pub scopes: Vec<Scope>,
}
