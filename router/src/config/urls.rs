//! `--redis` in a TOML file: one URL as a string, or seed URLs as a list.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Deserializes `"redis://a"` or `["redis://a", "redis://b"]` as a list.
///
/// # Errors
/// Neither a string nor a list of strings.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(u) => vec![u],
        OneOrMany::Many(v) => v,
    })
}
