//! `[[collection]]` tables: live collections. A room whose state is the set
//! of documents of one namespace that match a filter, keyed, optionally
//! sorted and limited (the first N), kept by the router and the bus.

use std::collections::BTreeSet;

use herald_protocol::collection::SetSpec;
use mongodb::bson::{Bson, Document, doc};
use serde::Deserialize;

use super::model::Target;
use super::template::Template;
use super::validate::{RulesError, check_filter, collection_err, split_ns, table_to_doc};

/// A `[[collection]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    /// Unique name (among rules and collections), used in messages and logs.
    pub name: String,
    /// The scope whose stream feeds it.
    pub scope: String,
    /// `db.coll` of its documents.
    pub ns: String,
    /// A MongoDB match document on the **document** (not the change event).
    #[serde(default)]
    pub filter: Option<toml::Table>,
    /// The room: static, or templated from `documentKey.*` fields only.
    pub room: String,
    /// The key field (dotted); default `_id`.
    #[serde(default)]
    pub key: Option<String>,
    /// The sort field (dotted), if the set is ordered.
    #[serde(default)]
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    pub order: Option<String>,
    /// The most documents the set holds (the first `limit` in order).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Dotted paths kept in stored and sent documents.
    #[serde(default)]
    pub project: Option<Vec<String>>,
}

/// A checked live collection.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Its name.
    pub name: String,
    /// Database of its namespace.
    pub db: String,
    /// Collection of its namespace.
    pub coll: String,
    /// Its match document on documents (may be empty).
    pub filter: Document,
    /// Its room template (fields only from `documentKey`).
    pub room: Template,
    /// Key, sort, order and limit: the stored set's shape.
    pub spec: SetSpec,
    /// Paths kept in documents (with `_id`, the key, the sort field and
    /// every field the filter reads); `None`: whole documents.
    pub project: Option<Vec<String>>,
    /// The dotted paths the filter reads (membership depends on them).
    pub filter_paths: Vec<String>,
}

impl Collection {
    /// Its clause in the scope's `$match`: the namespace and the four
    /// operations only. The document filter is applied by the router, so an
    /// update that takes a document out of the filter, and every delete,
    /// still reach it.
    pub fn match_clause(&self) -> Document {
        doc! {
            "ns.db": &self.db,
            "ns.coll": &self.coll,
            "operationType": { "$in": ["insert", "update", "replace", "delete"] },
        }
    }

    /// Whether a change of `path` (given as parts) can change whether a
    /// document belongs to the set or where it sorts: the path is, contains
    /// or lies inside the key, the sort field or a filter field.
    pub fn touches_membership(&self, parts: &[String]) -> bool {
        let relevant = self
            .filter_paths
            .iter()
            .map(String::as_str)
            .chain(self.spec.sort.as_deref())
            .chain(std::iter::once(self.spec.key.as_str()));
        relevant.into_iter().any(|f| related(parts, f))
    }
}

/// Whether `parts` and the dotted `field` are the same path, or one lies
/// inside the other.
pub fn related(parts: &[String], field: &str) -> bool {
    let f: Vec<&str> = field.split('.').collect();
    let n = parts.len().min(f.len());
    parts[..n].iter().zip(&f[..n]).all(|(a, b)| a == b)
}

/// Every dotted field path a filter reads.
fn filter_paths(filter: &Document, out: &mut BTreeSet<String>) {
    for (k, v) in filter {
        if k.starts_with('$') {
            if let Bson::Array(items) = v {
                for d in items.iter().filter_map(Bson::as_document) {
                    filter_paths(d, out);
                }
            }
        } else {
            out.insert(k.clone());
        }
    }
}

fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.split('.').all(|s| !s.is_empty() && !s.starts_with('$'))
}

/// Checks a `[[collection]]` table of a scope watching `target`.
///
/// # Errors
/// [`RulesError::Field`] naming the collection and the field at fault.
pub fn check_collection(c: &CollectionSpec, target: &Target) -> Result<Collection, RulesError> {
    let n = &c.name;
    let (db, coll) = split_ns(&c.ns, &c.scope, target).map_err(|m| collection_err(n, "ns", m))?;
    let filter = match &c.filter {
        None => Document::new(),
        Some(t) => {
            let d = table_to_doc(t);
            check_filter(&d).map_err(|m| collection_err(n, "filter", m))?;
            d
        }
    };
    let room = Template::parse(&c.room).map_err(|m| collection_err(n, "room", m))?;
    if let Some(f) = room.fields().find(|f| !f.starts_with("documentKey.")) {
        return Err(collection_err(
            n,
            "room",
            format!(
                "`{{{f}}}`: a collection room may only use documentKey fields (a delete carries nothing else)"
            ),
        ));
    }
    let key = c.key.clone().unwrap_or_else(|| "_id".into());
    if !valid_path(&key) {
        return Err(collection_err(
            n,
            "key",
            format!("`{key}` is not a field path"),
        ));
    }
    if let Some(s) = &c.sort {
        if !valid_path(s) {
            return Err(collection_err(
                n,
                "sort",
                format!("`{s}` is not a field path"),
            ));
        }
    }
    let descending = match c.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(collection_err(
                n,
                "order",
                format!("`{o}` is not asc or desc"),
            ));
        }
    };
    if c.order.is_some() && c.sort.is_none() {
        return Err(collection_err(n, "order", "needs `sort`"));
    }
    if c.limit == Some(0) {
        return Err(collection_err(n, "limit", "must be at least 1"));
    }
    if c.limit.is_some() && c.sort.is_none() {
        return Err(collection_err(
            n,
            "limit",
            "needs `sort` (the first N of what order?)",
        ));
    }
    let mut paths = BTreeSet::new();
    filter_paths(&filter, &mut paths);
    let project = match &c.project {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(collection_err(n, "project", "must list at least one path"));
        }
        Some(list) => {
            if let Some(bad) = list.iter().find(|p| !valid_path(p)) {
                return Err(collection_err(
                    n,
                    "project",
                    format!("`{bad}` is not a field path"),
                ));
            }
            // What membership and order read is always kept, so the router
            // can judge a stored document again.
            let mut all: Vec<String> = list.clone();
            let extra = std::iter::once("_id".to_owned())
                .chain(std::iter::once(key.clone()))
                .chain(c.sort.clone())
                .chain(paths.iter().cloned());
            for e in extra {
                if !all.contains(&e) {
                    all.push(e);
                }
            }
            Some(all)
        }
    };
    Ok(Collection {
        name: n.clone(),
        db: db.to_owned(),
        coll: coll.to_owned(),
        filter,
        room,
        spec: SetSpec {
            key,
            sort: c.sort.clone(),
            descending,
            limit: c.limit,
        },
        project,
        filter_paths: paths.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::rules::parse_rules;

    const GOOD: &str = r#"
[[scope]]
name = "shop"
db = "shop"

[[collection]]
name = "latest-orders"
scope = "shop"
ns = "shop.orders"
filter = { status = { "$in" = ["pending", "paid"] } }
room = "orders:live"
sort = "createdAt"
order = "desc"
limit = 50
project = ["total", "customer.name"]
"#;

    fn err(from: &str, to: &str) -> String {
        parse_rules(&GOOD.replace(from, to))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_collection_matches_namespace_and_operations_only_and_keeps_what_it_reads() {
        let r = parse_rules(GOOD).unwrap();
        let c = &r.scopes[0].collections[0];
        assert_eq!(c.spec.limit, Some(50));
        assert!(c.spec.descending);
        assert_eq!(
            c.project.as_deref().unwrap(),
            ["total", "customer.name", "_id", "createdAt", "status"]
        );
        let clause = c.match_clause();
        assert!(
            !clause.contains_key("$and"),
            "no document filter on the server"
        );
        assert!(c.touches_membership(&["status".into()]));
        assert!(c.touches_membership(&["createdAt".into(), "x".into()]));
        assert!(!c.touches_membership(&["total".into()]));
    }

    #[test]
    fn errors_name_the_collection_and_field() {
        assert_eq!(
            err(
                "room = \"orders:live\"",
                "room = \"orders:{fullDocument.shop}\""
            ),
            "collection `latest-orders`: field `room`: `{fullDocument.shop}`: a collection room may only use documentKey fields (a delete carries nothing else)"
        );
        assert!(parse_rules(&GOOD.replace("orders:live", "orders:{documentKey.shop}")).is_ok());
        assert!(
            err("order = \"desc\"", "order = \"down\"")
                .starts_with("collection `latest-orders`: field `order`")
        );
        assert!(err("limit = 50", "limit = 0").contains("field `limit`: must be at least 1"));
        assert!(err("sort = \"createdAt\"\n", "").contains("field `order`: needs `sort`"));
        assert!(err("\"$in\"", "\"$where\"").contains("field `filter`: unsupported operator"));
        assert!(err("ns = \"shop.orders\"", "ns = \"x.orders\"").contains("outside scope"));
        assert!(
            err("scope = \"shop\"", "scope = \"nope\"").contains("field `scope`: unknown scope")
        );
        assert!(
            err("project = [\"total\", \"customer.name\"]", "project = []")
                .contains("field `project`")
        );
        assert!(err("limit = 50", "limitt = 50").contains("unknown field `limitt`"));
        let twice = format!("{GOOD}{}", &GOOD[GOOD.find("[[collection]]").unwrap()..]);
        assert!(
            parse_rules(&twice)
                .unwrap_err()
                .to_string()
                .contains("defined twice")
        );
    }
}
