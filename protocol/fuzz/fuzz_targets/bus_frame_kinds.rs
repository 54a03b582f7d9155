//! Fuzz target: every bus frame kind, built field by field as MessagePack,
//! then read by `bus::decode_bus`.
//!
//! Raw bytes rarely form a MessagePack map with the right `t` tag and field
//! names, so `bus_decode` seldom gets past the envelope. Here the input picks
//! a frame kind and, for each of that kind's fields, whether it is written
//! well-typed, left out, written as nil or written as any other value; extra
//! fields with unknown names are added too. Properties:
//!
//! - never a panic;
//! - a version other than 1 and 2 is refused by number;
//! - in version 2 a publication's payload is the frame's tail, after the
//!   map, and must be one JSON value (a payload left in the map, as
//!   version 1 writes it, is overridden by the tail);
//! - a frame whose every field is well-typed (or left out or nil where the
//!   specification allows) decodes, whatever unknown fields it carries (the
//!   forward-compatibility rule of `docs/adapter-protocol.md`);
//! - a decoded frame has the kind its tag named, and survives a re-encode.
//!
//! Input layout, read front to back (missing bytes read as 0, so `[0, k]`
//! is a complete, well-formed frame of kind `k`): version (`< 125` means
//! 1, `< 250` means [`BUS_VERSION`]), kind, position of the tag, then per field its choice
//! (`% 4`: well-typed, left out, nil, anything) and its value, then the
//! number of unknown fields and theirs. A string is a length byte (`% 32`)
//! and its bytes; an integer is 8 bytes, little-endian.

#![no_main]

use herald_protocol::bus::{
    BUS_VERSION, BUS_VERSION_MIN, BusDecodeError, BusFrame, Control, decode_bus, encode_bus,
};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use rmpv::Value;

/// The type a field must have.
#[derive(Clone, Copy)]
enum Ty {
    /// A string.
    Str,
    /// An unsigned integer.
    U64,
    /// A boolean.
    Bool,
    /// Any JSON value (`serde_json::Value`).
    Json,
    /// A list of JSON values.
    JsonList,
    /// A list of strings.
    StrList,
    /// A list of unsigned integers.
    U64List,
    /// A list of lists of strings.
    StrLists,
    /// One of these strings exactly (an enum tag).
    OneOf(&'static [&'static str]),
    /// A `ControlTarget`: `{kind, id}`.
    Target,
    /// A list of `AskAnswer`s.
    Answers,
}

/// Whether a field may be left out, or be nil.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Must be there, with its type.
    Required,
    /// May be left out (`#[serde(default)]`), but not nil.
    Defaulted,
    /// An `Option`: may be left out or nil.
    Optional,
}

/// One field of a frame kind.
struct Field {
    name: &'static str,
    ty: Ty,
    presence: Presence,
}

const fn field(name: &'static str, ty: Ty, presence: Presence) -> Field {
    Field { name, ty, presence }
}

use Presence::{Defaulted, Optional, Required};

/// A frame kind: its `t` tag and its fields (`cmd` is a field for controls).
struct Kind {
    tag: &'static str,
    fields: &'static [Field],
}

const TARGET_KINDS: &[&str] = &["room", "user", "session"];

const TARGET: &[Field] = &[
    field("kind", Ty::OneOf(TARGET_KINDS), Required),
    field("id", Ty::Str, Required),
];

const ANSWER: &[Field] = &[
    field("sid", Ty::Str, Required),
    field("nsp", Ty::Str, Optional),
    field("args", Ty::JsonList, Optional),
    field("error", Ty::Str, Optional),
];

const KINDS: &[Kind] = &[
    Kind {
        tag: "publish",
        fields: &[
            field("room", Ty::Str, Required),
            field("event", Ty::Str, Required),
            field("data", Ty::Json, Defaulted),
            field("ts_ms", Ty::U64, Defaulted),
            field("src_ts_ms", Ty::U64, Optional),
            field("src", Ty::Str, Optional),
            field("src_pos", Ty::Str, Optional),
            field("fence", Ty::U64, Optional),
        ],
    },
    Kind {
        tag: "control",
        fields: &[
            field("cmd", Ty::OneOf(&["disconnect"]), Required),
            field("target", Ty::Target, Required),
            field("reason", Ty::Str, Defaulted),
        ],
    },
    Kind {
        tag: "control",
        fields: &[
            field("cmd", Ty::OneOf(&["join"]), Required),
            field("target", Ty::Target, Required),
            field("room", Ty::Str, Required),
        ],
    },
    Kind {
        tag: "control",
        fields: &[
            field("cmd", Ty::OneOf(&["leave"]), Required),
            field("target", Ty::Target, Required),
            field("room", Ty::Str, Required),
        ],
    },
    Kind {
        tag: "heartbeat",
        fields: &[
            field("node", Ty::Str, Required),
            field("ts_ms", Ty::U64, Required),
            field("connections", Ty::U64, Required),
            field("rooms", Ty::U64, Required),
        ],
    },
    Kind {
        tag: "presence_query",
        fields: &[
            field("request", Ty::Str, Required),
            field("rooms", Ty::StrList, Required),
            field("sessions", Ty::Bool, Defaulted),
            field("reply_to", Ty::Str, Required),
            field("users", Ty::U64, Optional),
        ],
    },
    Kind {
        tag: "presence_reply",
        fields: &[
            field("request", Ty::Str, Required),
            field("node", Ty::Str, Required),
            field("counts", Ty::U64List, Required),
            field("sessions", Ty::StrLists, Defaulted),
        ],
    },
    Kind {
        tag: "ask_request",
        fields: &[
            field("request", Ty::Str, Required),
            field("reply_to", Ty::Str, Required),
            field("target", Ty::Target, Required),
            field("event", Ty::Str, Required),
            field("data", Ty::Json, Defaulted),
            field("timeout_ms", Ty::U64, Required),
        ],
    },
    Kind {
        tag: "ask_reply",
        fields: &[
            field("request", Ty::Str, Required),
            field("node", Ty::Str, Required),
            field("sent", Ty::U64, Required),
            field("answers", Ty::Answers, Required),
        ],
    },
    Kind {
        tag: "presence",
        fields: &[
            field("room", Ty::Str, Required),
            field("user", Ty::Str, Required),
            field("action", Ty::OneOf(&["join", "leave"]), Required),
            field("node", Ty::Str, Required),
            field("ts_ms", Ty::U64, Defaulted),
        ],
    },
];

/// Longest list, deepest nesting the builder writes.
const MAX_LEN: u8 = 4;
const MAX_DEPTH: u8 = 3;

/// Builds MessagePack values from the fuzzer's bytes.
struct Builder<'a> {
    u: Unstructured<'a>,
    /// Whether every field written so far is one the decoder must accept.
    well_formed: bool,
}

impl<'a> Builder<'a> {
    fn byte(&mut self) -> u8 {
        self.u.arbitrary().unwrap_or(0)
    }

    fn len(&mut self) -> usize {
        usize::from(self.byte() % (MAX_LEN + 1))
    }

    /// A length byte (`% 32`), then that many bytes, read as lossy UTF-8.
    fn string(&mut self) -> String {
        let n = usize::from(self.byte() % 32);
        let bytes = self.u.bytes(n.min(self.u.len())).unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn u64(&mut self) -> u64 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// A map from `fields`, each written as the input chooses, plus unknown
    /// fields; `tag`, when given, is placed where the input says.
    fn record(&mut self, tag: Option<(&str, Value)>, fields: &[Field], depth: u8) -> Value {
        let mut entries = Vec::with_capacity(fields.len() + 2);
        let tag_at = usize::from(self.byte()) % (fields.len() + 1);
        let mut tag = tag;
        for (i, f) in fields.iter().enumerate() {
            if i == tag_at
                && let Some((name, value)) = tag.take()
            {
                entries.push((Value::from(name), value));
            }
            match self.byte() % 4 {
                0 => {
                    let v = self.well_typed(f.ty, depth);
                    entries.push((Value::from(f.name), v));
                }
                1 => self.well_formed &= f.presence != Required,
                2 => {
                    self.well_formed &= f.presence == Optional || matches!(f.ty, Ty::Json);
                    entries.push((Value::from(f.name), Value::Nil));
                }
                _ => {
                    self.well_formed = false;
                    let v = self.anything(depth);
                    entries.push((Value::from(f.name), v));
                }
            }
        }
        if let Some((name, value)) = tag {
            entries.push((Value::from(name), value));
        }
        for _ in 0..self.byte() % 4 {
            let name = format!("x_{}", self.string());
            let v = self.anything(depth);
            entries.push((Value::from(name), v));
        }
        Value::Map(entries)
    }

    /// A value of type `ty`, as a conforming emitter would write it.
    fn well_typed(&mut self, ty: Ty, depth: u8) -> Value {
        match ty {
            Ty::Str => Value::from(self.string()),
            Ty::U64 => Value::from(self.u64()),
            Ty::Bool => Value::from(self.byte() % 2 == 1),
            Ty::Json => self.json(depth),
            Ty::JsonList => self.list(|b| b.json(depth + 1)),
            Ty::StrList => self.list(|b| Value::from(b.string())),
            Ty::U64List => self.list(|b| Value::from(b.u64())),
            Ty::StrLists => self.list(|b| b.list(|b| Value::from(b.string()))),
            Ty::OneOf(names) => Value::from(names[usize::from(self.byte()) % names.len()]),
            Ty::Target => self.record(None, TARGET, depth + 1),
            Ty::Answers => self.list(|b| b.record(None, ANSWER, depth + 1)),
        }
    }

    fn list(&mut self, mut item: impl FnMut(&mut Self) -> Value) -> Value {
        let n = self.len();
        Value::Array((0..n).map(|_| item(self)).collect())
    }

    /// A value `serde_json::Value` can hold: string keys only, no binary.
    fn json(&mut self, depth: u8) -> Value {
        let pick = self.byte() % if depth >= MAX_DEPTH { 6 } else { 8 };
        match pick {
            0 => Value::Nil,
            1 => Value::from(self.byte() % 2 == 1),
            2 => Value::from(self.u64()),
            3 => Value::from(self.u.arbitrary::<i64>().unwrap_or(0)),
            4 => Value::from(self.u.arbitrary::<f64>().unwrap_or(0.0)),
            5 => Value::from(self.string()),
            6 => self.list(|b| b.json(depth + 1)),
            _ => {
                let n = self.len();
                Value::Map(
                    (0..n)
                        .map(|_| (Value::from(self.string()), self.json(depth + 1)))
                        .collect(),
                )
            }
        }
    }

    /// Any MessagePack value at all, including binary, extension types and
    /// maps with non-string keys.
    fn anything(&mut self, depth: u8) -> Value {
        let pick = self.byte() % if depth >= MAX_DEPTH { 7 } else { 9 };
        match pick {
            0..=4 => self.json(MAX_DEPTH),
            5 => Value::Binary(self.string().into_bytes()),
            6 => Value::Ext(self.u.arbitrary().unwrap_or(0), self.string().into_bytes()),
            7 => self.list(|b| b.anything(depth + 1)),
            _ => {
                let n = self.len();
                Value::Map(
                    (0..n)
                        .map(|_| (self.anything(depth + 1), self.anything(depth + 1)))
                        .collect(),
                )
            }
        }
    }
}

/// The `t` tag (and `cmd`, for controls) of a decoded frame.
fn tags(frame: &BusFrame) -> (&'static str, Option<&'static str>) {
    match frame {
        BusFrame::Publish(_) => ("publish", None),
        BusFrame::Control(Control::Disconnect { .. }) => ("control", Some("disconnect")),
        BusFrame::Control(Control::Join { .. }) => ("control", Some("join")),
        BusFrame::Control(Control::Leave { .. }) => ("control", Some("leave")),
        BusFrame::Heartbeat(_) => ("heartbeat", None),
        BusFrame::PresenceQuery(_) => ("presence_query", None),
        BusFrame::PresenceReply(_) => ("presence_reply", None),
        BusFrame::AskRequest(_) => ("ask_request", None),
        BusFrame::AskReply(_) => ("ask_reply", None),
        BusFrame::Presence(_) => ("presence", None),
        BusFrame::Unknown => ("unknown", None),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Builder {
        u: Unstructured::new(data),
        well_formed: true,
    };
    let version = match b.byte() {
        v if v < 125 => BUS_VERSION_MIN,
        v if v < 250 => BUS_VERSION,
        v => v,
    };
    let which = usize::from(b.byte()) % (KINDS.len() + 1);
    let (tag, fields) = match KINDS.get(which) {
        Some(kind) => (kind.tag.to_owned(), kind.fields),
        None => {
            b.well_formed = false;
            (b.string(), KINDS[0].fields)
        }
    };
    let body = b.record(Some(("t", Value::from(tag.as_str()))), fields, 0);
    let mut bytes = vec![version];
    rmpv::encode::write_value(&mut bytes, &body).expect("writing to a Vec cannot fail");
    if version == BUS_VERSION {
        // The payload's text (a JSON value from the input, or its raw bytes).
        let tail = match b.byte() % 4 {
            0 => b"{\"n\":1}".to_vec(),
            1 => serde_json::to_vec(&b.string()).expect("a string serializes"),
            2 => Vec::new(),
            _ => b.string().into_bytes(),
        };
        if tag == "publish" && serde_json::from_slice::<serde::de::IgnoredAny>(&tail).is_err() {
            b.well_formed = false;
        }
        bytes.extend_from_slice(&tail);
    }

    let decoded = decode_bus(&bytes);
    if version != BUS_VERSION && version != BUS_VERSION_MIN {
        assert_eq!(decoded, Err(BusDecodeError::UnsupportedVersion(version)));
        return;
    }
    let frame = match decoded {
        Ok(frame) => frame,
        Err(e) => {
            assert!(
                !b.well_formed,
                "a well-formed {tag} frame was refused: {e}; {body}"
            );
            return;
        }
    };
    if frame == BusFrame::Unknown {
        // A kind this reader does not know (a newer writer's): skipped by
        // readers, never one of the kinds it does know.
        assert!(
            KINDS.iter().all(|k| k.tag != tag),
            "a known {tag} frame decoded as unknown: {body}"
        );
        return;
    }
    let (t, cmd) = tags(&frame);
    assert_eq!(t, tag, "{body}");
    if let Some(cmd) = cmd {
        // serde reads an enum tag as its name, as the name's bytes, or as the
        // variant's index, so `cmd: 0` is a disconnect.
        let written = body
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("cmd")))
            .map(|(_, v)| v);
        let index = ["disconnect", "join", "leave"]
            .iter()
            .position(|c| *c == cmd);
        let named = written.is_some_and(|v| {
            v.as_str() == Some(cmd)
                || v.as_slice() == Some(cmd.as_bytes())
                || (v.as_u64().is_some() && v.as_u64() == index.map(|i| i as u64))
        });
        assert!(named, "decoded as control {cmd} from {body}");
    }
    assert_eq!(
        decode_bus(&encode_bus(&frame)).as_ref(),
        Ok(&frame),
        "{body}"
    );
});
