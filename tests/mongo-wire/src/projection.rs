//! Simple projections: all-inclusion or all-exclusion of (dotted) paths.

use crate::error::CommandError;
use crate::matcher::truthy;
use mongodb::bson::{Bson, Document};

/// A parsed projection.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Paths listed (except `_id`).
    paths: Vec<String>,
    /// True for inclusion, false for exclusion.
    include: bool,
    /// Whether `_id` is kept.
    keep_id: bool,
}

impl Projection {
    /// Parses `{a: 1, "b.c": 1}` or `{a: 0}`; `_id` may be excluded in either.
    ///
    /// # Errors
    /// `BadValue` for expressions or mixed inclusion and exclusion.
    pub fn parse(spec: &Document) -> Result<Self, CommandError> {
        let mut paths = Vec::new();
        let mut include: Option<bool> = None;
        let mut keep_id = true;
        for (k, v) in spec {
            if !matches!(
                v,
                Bson::Boolean(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_)
            ) {
                return Err(CommandError::bad_value(format!(
                    "unsupported projection expression for {k}"
                )));
            }
            if k == "_id" {
                keep_id = truthy(v);
                continue;
            }
            let inc = truthy(v);
            if include.is_some_and(|i| i != inc) {
                return Err(CommandError::new(
                    31254,
                    "cannot mix inclusion and exclusion in a projection",
                ));
            }
            include = Some(inc);
            paths.push(k.clone());
        }
        Ok(Self {
            paths,
            include: include.unwrap_or(false),
            keep_id,
        })
    }

    /// Applies the projection.
    pub fn apply(&self, doc: &Document) -> Document {
        let mut out = if self.include {
            let mut out = Document::new();
            if self.keep_id {
                if let Some(id) = doc.get("_id") {
                    out.insert("_id", id.clone());
                }
            }
            for p in &self.paths {
                copy_path(doc, &mut out, p);
            }
            out
        } else {
            let mut out = doc.clone();
            for p in &self.paths {
                remove_path(&mut out, p);
            }
            out
        };
        if !self.keep_id {
            out.remove("_id");
        }
        out
    }
}

fn copy_path(src: &Document, dst: &mut Document, path: &str) {
    match path.split_once('.') {
        None => {
            if let Some(v) = src.get(path) {
                dst.insert(path, v.clone());
            }
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(sub)) = src.get(head) {
                let entry = dst
                    .entry(head.to_owned())
                    .or_insert_with(|| Bson::Document(Document::new()));
                if let Bson::Document(d) = entry {
                    copy_path(sub, d, rest);
                }
            }
        }
    }
}

fn remove_path(doc: &mut Document, path: &str) {
    match path.split_once('.') {
        None => {
            doc.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(sub)) = doc.get_mut(head) {
                remove_path(sub, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn include_and_exclude() {
        let d = doc! {"_id": 1, "a": 1, "b": {"c": 2, "d": 3}};
        let inc = Projection::parse(&doc! {"b.c": 1}).expect("ok");
        assert_eq!(inc.apply(&d), doc! {"_id": 1, "b": {"c": 2}});
        let exc = Projection::parse(&doc! {"a": 0, "_id": 0}).expect("ok");
        assert_eq!(exc.apply(&d), doc! {"b": {"c": 2, "d": 3}});
        assert!(Projection::parse(&doc! {"a": 1, "b": 0}).is_err());
        assert!(Projection::parse(&doc! {"a": "$x"}).is_err());
    }
}
