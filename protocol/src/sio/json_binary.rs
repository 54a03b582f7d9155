//! Socket.IO attachments in JSON: `{"_binary": "<base64>"}` stands for
//! one, wherever Herald hands a packet's arguments to something that only
//! speaks JSON (an ask's answers, the application backend) and wherever
//! such JSON comes back to be sent as a packet.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::placeholder;

const KEY: &str = "_binary";

/// Replaces each binary placeholder in `data` with `{"_binary": "<base64>"}`.
pub fn inline_binary(data: &mut Value, attachments: &[Bytes]) {
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("_placeholder") == Some(&Value::Bool(true))
                    && let Some(bytes) = map
                        .get("num")
                        .and_then(Value::as_u64)
                        .and_then(|n| attachments.get(n as usize))
                {
                    let mut b = Map::new();
                    b.insert(
                        KEY.into(),
                        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    );
                    *map = b;
                } else {
                    stack.extend(map.values_mut());
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// Why JSON could not become a packet's data and attachments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinaryError {
    /// A `_binary` value that is not base64.
    #[error("a \"_binary\" value is not base64: {0}")]
    NotBase64(String),
    /// More attachments than a packet may carry.
    #[error("more than {0} binary values")]
    TooMany(usize),
    /// A Socket.IO placeholder object in JSON meant to become a packet: a
    /// client would read it as an attachment reference.
    #[error(
        "a {{\"_placeholder\": true}} object is not allowed; send binary as {{\"_binary\": \"<base64>\"}}"
    )]
    Placeholder,
}

/// The reverse of [`inline_binary`]: replaces each `{"_binary": "<base64>"}`
/// (an object with that one key) in `values` with a placeholder, numbered
/// in document order as Socket.IO's own encoder numbers them, and returns
/// the decoded attachments.
///
/// # Errors
/// [`BinaryError`] for bad base64, more than `max` attachments, or a
/// placeholder object already in `values`.
pub fn extract_binary(values: &mut [Value], max: usize) -> Result<Vec<Bytes>, BinaryError> {
    let mut found = Vec::new();
    for v in values {
        extract(v, &mut found, max)?;
    }
    Ok(found)
}

fn extract(v: &mut Value, found: &mut Vec<Bytes>, max: usize) -> Result<(), BinaryError> {
    match v {
        Value::Object(map) => {
            if map.get("_placeholder") == Some(&Value::Bool(true)) {
                return Err(BinaryError::Placeholder);
            }
            if map.len() == 1
                && let Some(Value::String(text)) = map.get(KEY)
            {
                if found.len() >= max {
                    return Err(BinaryError::TooMany(max));
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| BinaryError::NotBase64(e.to_string()))?;
                *v = placeholder(found.len());
                found.push(Bytes::from(bytes));
                return Ok(());
            }
            for item in map.values_mut() {
                extract(item, found, max)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                extract(item, found, max)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_become_base64_objects() {
        let mut data = json!({ "a": [1, { "_placeholder": true, "num": 0 }], "b": { "_placeholder": true, "num": 1 } });
        inline_binary(
            &mut data,
            &[Bytes::from_static(b"\x01\x02"), Bytes::from_static(b"hi")],
        );
        assert_eq!(
            data,
            json!({ "a": [1, { "_binary": "AQI=" }], "b": { "_binary": "aGk=" } })
        );
    }

    #[test]
    fn base64_objects_become_placeholders_in_document_order() {
        let mut args = vec![
            json!({ "_binary": "AQID" }),
            json!([{ "x": { "_binary": "BAUG" } }, { "_binary": "", "other": 1 }]),
        ];
        let found = extract_binary(&mut args, 10).unwrap();
        assert_eq!(
            found,
            vec![
                Bytes::from_static(&[1, 2, 3]),
                Bytes::from_static(&[4, 5, 6])
            ]
        );
        assert_eq!(
            args,
            vec![
                json!({ "_placeholder": true, "num": 0 }),
                json!([{ "x": { "_placeholder": true, "num": 1 } }, { "_binary": "", "other": 1 }]),
            ]
        );
        let mut back = Value::Array(args);
        inline_binary(&mut back, &found);
        assert_eq!(back[0], json!({ "_binary": "AQID" }));
    }

    #[test]
    fn bad_base64_and_too_many_are_refused() {
        let mut bad = vec![json!({ "_binary": "not base64!" })];
        assert!(matches!(
            extract_binary(&mut bad, 10),
            Err(BinaryError::NotBase64(_))
        ));
        let mut many = vec![json!([{ "_binary": "AA==" }, { "_binary": "AA==" }])];
        assert_eq!(extract_binary(&mut many, 1), Err(BinaryError::TooMany(1)));
        let mut forged = vec![json!({ "a": { "_placeholder": true, "num": 0 } })];
        assert_eq!(
            extract_binary(&mut forged, 10),
            Err(BinaryError::Placeholder)
        );
    }
}
