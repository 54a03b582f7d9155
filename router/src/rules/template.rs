//! Room-name templates: literal text with `{dotted.path}` fields taken from
//! the change event, such as `dashboard:{fullDocument.section}`.

use herald_protocol::RoomName;
use mongodb::bson::{RawBsonRef, RawDocument};

use super::matcher::lookup;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Copied as is.
    Lit(String),
    /// Replaced by the event's value at this dotted path.
    Field(String),
}

/// A parsed room template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The source text, for messages.
    source: String,
    /// Its pieces in order.
    parts: Vec<Part>,
}

/// Why a template produced no room for an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The event has no value at the path.
    #[error("field `{0}` is missing")]
    Missing(String),
    /// The value is not a string, number, boolean or ObjectId.
    #[error("field `{0}` is not a scalar")]
    NotScalar(String),
    /// The result is not a valid room name.
    #[error("invalid room name: {0}")]
    InvalidRoom(String),
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// A message for unbalanced braces, an empty or invalid field path, or
    /// literal text that can never be part of a room name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Lit(rest.to_owned()));
                    break;
                }
                Some(i) if rest.as_bytes()[i] == b'}' => {
                    return Err(format!(
                        "unmatched `}}` at byte {}",
                        text.len() - rest.len() + i
                    ));
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Lit(rest[..i].to_owned()));
                    }
                    let after = &rest[i + 1..];
                    let end = after.find('}').ok_or("unclosed `{`")?;
                    let path = &after[..end];
                    if path.is_empty() {
                        return Err("empty field `{}`".into());
                    }
                    if path.contains('{') {
                        return Err("nested `{`".into());
                    }
                    if path.split('.').any(|s| {
                        s.is_empty()
                            || !s
                                .chars()
                                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                    }) {
                        return Err(format!("invalid field path `{path}`"));
                    }
                    parts.push(Part::Field(path.to_owned()));
                    rest = &after[end + 1..];
                }
            }
        }
        let t = Self {
            source: text.to_owned(),
            parts,
        };
        // Every field replaced by a harmless value must give a valid room.
        let sample: String = t
            .parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.as_str(),
                Part::Field(_) => "x",
            })
            .collect();
        RoomName::new(&sample).map_err(|e| format!("`{text}` cannot give a valid room: {e}"))?;
        Ok(t)
    }

    /// The dotted paths the template reads, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The room for `event`.
    ///
    /// # Errors
    /// [`RenderError`] when a field is missing or not a scalar, or the result
    /// is not a valid room name.
    pub fn render(&self, event: &RawDocument) -> Result<RoomName, RenderError> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field(path) => {
                    let v =
                        lookup(event, path).ok_or_else(|| RenderError::Missing(path.clone()))?;
                    match v {
                        RawBsonRef::String(s) => out.push_str(s),
                        RawBsonRef::Int32(i) => out.push_str(&i.to_string()),
                        RawBsonRef::Int64(i) => out.push_str(&i.to_string()),
                        RawBsonRef::Double(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                            out.push_str(&format!("{f:.0}"));
                        }
                        RawBsonRef::Double(f) => out.push_str(&f.to_string()),
                        RawBsonRef::Boolean(b) => out.push_str(if b { "true" } else { "false" }),
                        RawBsonRef::ObjectId(o) => out.push_str(&o.to_hex()),
                        _ => return Err(RenderError::NotScalar(path.clone())),
                    }
                }
            }
        }
        RoomName::new(&out).map_err(|e| RenderError::InvalidRoom(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mongodb::bson::{Document, RawDocumentBuf, doc, oid::ObjectId};

    use super::*;

    /// Renders against the raw form of `ev`, as events arrive.
    fn render(t: &Template, ev: &Document) -> Result<RoomName, RenderError> {
        t.render(&RawDocumentBuf::from_document(ev).unwrap())
    }

    #[test]
    fn renders_fields_from_dotted_paths() {
        let t = Template::parse("dashboard:{fullDocument.section}-{fullDocument.n}").unwrap();
        let oid = ObjectId::new();
        let ev = doc! { "fullDocument": { "section": "sales", "n": 3_i64, "o": oid } };
        assert_eq!(render(&t, &ev).unwrap().as_str(), "dashboard:sales-3");
        let t = Template::parse("doc:{fullDocument.o}").unwrap();
        assert_eq!(
            render(&t, &ev).unwrap().as_str(),
            format!("doc:{}", oid.to_hex())
        );
        let t = Template::parse("static:room").unwrap();
        assert_eq!(render(&t, &ev).unwrap().as_str(), "static:room");
    }

    #[test]
    fn missing_or_bad_values_are_errors() {
        let t = Template::parse("d:{fullDocument.section}").unwrap();
        assert_eq!(
            render(&t, &doc! {"fullDocument": {}}),
            Err(RenderError::Missing("fullDocument.section".into()))
        );
        assert!(matches!(
            render(&t, &doc! {"fullDocument": {"section": {"a": 1}}}),
            Err(RenderError::NotScalar(_))
        ));
        assert!(matches!(
            render(&t, &doc! {"fullDocument": {"section": "has space"}}),
            Err(RenderError::InvalidRoom(_))
        ));
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(Template::parse("a:{x").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a:x}").unwrap_err().contains("unmatched"));
        assert!(Template::parse("a:{}").unwrap_err().contains("empty"));
        assert!(
            Template::parse("a:{b..c}")
                .unwrap_err()
                .contains("invalid field path")
        );
        assert!(
            Template::parse("a b:{x}")
                .unwrap_err()
                .contains("valid room")
        );
        assert!(Template::parse("").unwrap_err().contains("valid room"));
    }
}
