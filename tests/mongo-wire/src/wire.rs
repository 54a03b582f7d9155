//! Framing: the 16-byte message header and OP_MSG bodies (kind 0 body, kind 1
//! document sequences). Pure functions over bytes plus one async reader.

use mongodb::bson::{Bson, Document};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Opcode of OP_MSG, the only opcode the 3.x driver sends uncompressed.
pub const OP_MSG: i32 = 2013;
/// Length of the standard message header.
pub const HEADER_LEN: usize = 16;
/// Largest message accepted or advertised (`maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;
/// Largest BSON document accepted or advertised (`maxBsonObjectSize`).
pub const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;

const FLAG_CHECKSUM: u32 = 1;
const FLAG_MORE_TO_COME: u32 = 1 << 1;
const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;

/// Why a message could not be framed or decoded; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The header's length is below the header size or above the maximum.
    #[error("message length {0} is out of bounds")]
    BadLength(i64),
    /// An opcode other than OP_MSG.
    #[error("unsupported opcode {0}")]
    Opcode(i32),
    /// Structurally broken OP_MSG.
    #[error("malformed OP_MSG: {0}")]
    Malformed(&'static str),
    /// A section holds invalid BSON.
    #[error("invalid BSON: {0}")]
    Bson(#[from] mongodb::bson::de::Error),
    /// A reply could not be serialized.
    #[error("cannot encode reply: {0}")]
    Encode(#[from] mongodb::bson::ser::Error),
    /// Socket failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The standard message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total message length including the header.
    pub length: i32,
    /// Sender's id for this message.
    pub request_id: i32,
    /// Id of the request this message answers (0 for requests).
    pub response_to: i32,
    /// Operation code.
    pub op_code: i32,
}

impl Header {
    /// Decodes a header from its 16 bytes.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Self {
        let i = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Self {
            length: i(0),
            request_id: i(4),
            response_to: i(8),
            op_code: i(12),
        }
    }
}

/// A decoded OP_MSG request: the body with document sequences merged in as arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request id to answer.
    pub request_id: i32,
    /// The client expects no reply (`moreToCome`, unacknowledged writes).
    pub more_to_come: bool,
    /// The command document, with each kind 1 sequence inserted under its identifier.
    pub body: Document,
}

/// Reads one framed message. `Ok(None)` on a clean EOF before a header.
///
/// # Errors
/// Out-of-bounds lengths and socket errors.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<(Header, Vec<u8>)>, WireError> {
    let mut hdr = [0u8; HEADER_LEN];
    match r.read_exact(&mut hdr).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let header = Header::parse(&hdr);
    let len = i64::from(header.length);
    if len < HEADER_LEN as i64 + 5 || len > MAX_MESSAGE_SIZE as i64 {
        return Err(WireError::BadLength(len));
    }
    let mut payload = vec![0u8; len as usize - HEADER_LEN];
    r.read_exact(&mut payload).await?;
    Ok(Some((header, payload)))
}

/// Decodes an OP_MSG payload (the bytes after the header).
///
/// # Errors
/// Any other opcode, unknown required flag bits, a missing or repeated body,
/// truncated sections, or invalid BSON.
pub fn decode_op_msg(header: &Header, payload: &[u8]) -> Result<Request, WireError> {
    if header.op_code != OP_MSG {
        return Err(WireError::Opcode(header.op_code));
    }
    let flags = u32::from_le_bytes(take4(payload, 0)?);
    if flags & 0xFFFF & !(FLAG_CHECKSUM | FLAG_MORE_TO_COME) != 0 {
        return Err(WireError::Malformed("unknown required flag bits"));
    }
    let _ = FLAG_EXHAUST_ALLOWED;
    let mut end = payload.len();
    if flags & FLAG_CHECKSUM != 0 {
        end = end
            .checked_sub(4)
            .ok_or(WireError::Malformed("missing checksum"))?;
    }
    let mut pos = 4;
    let mut body: Option<Document> = None;
    let mut sequences: Vec<(String, Vec<Bson>)> = Vec::new();
    while pos < end {
        let kind = payload[pos];
        pos += 1;
        match kind {
            0 => {
                let (doc, used) = read_doc(&payload[pos..end])?;
                if body.replace(doc).is_some() {
                    return Err(WireError::Malformed("more than one body section"));
                }
                pos += used;
            }
            1 => {
                let size = i32::from_le_bytes(take4(&payload[..end], pos)?);
                let size = usize::try_from(size)
                    .map_err(|_| WireError::Malformed("negative sequence size"))?;
                if size < 4 || pos + size > end {
                    return Err(WireError::Malformed("sequence size out of bounds"));
                }
                let section = &payload[pos + 4..pos + size];
                pos += size;
                let nul = section
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(WireError::Malformed("unterminated identifier"))?;
                let ident = std::str::from_utf8(&section[..nul])
                    .map_err(|_| WireError::Malformed("identifier is not UTF-8"))?
                    .to_owned();
                let mut docs = Vec::new();
                let mut rest = &section[nul + 1..];
                while !rest.is_empty() {
                    let (doc, used) = read_doc(rest)?;
                    docs.push(Bson::Document(doc));
                    rest = &rest[used..];
                }
                sequences.push((ident, docs));
            }
            _ => return Err(WireError::Malformed("unknown section kind")),
        }
    }
    let mut body = body.ok_or(WireError::Malformed("no body section"))?;
    for (ident, docs) in sequences {
        if body.contains_key(&ident) {
            return Err(WireError::Malformed(
                "sequence identifier duplicates a body field",
            ));
        }
        body.insert(ident, Bson::Array(docs));
    }
    Ok(Request {
        request_id: header.request_id,
        more_to_come: flags & FLAG_MORE_TO_COME != 0,
        body,
    })
}

/// Encodes an OP_MSG reply with a single kind 0 section.
///
/// # Errors
/// If the document cannot be serialized.
pub fn encode_reply(
    request_id: i32,
    response_to: i32,
    body: &Document,
) -> Result<Vec<u8>, WireError> {
    let mut doc = Vec::new();
    body.to_writer(&mut doc)?;
    let total = HEADER_LEN + 4 + 1 + doc.len();
    let mut out = Vec::with_capacity(total);
    let total_i32 = i32::try_from(total).map_err(|_| WireError::BadLength(total as i64))?;
    for v in [total_i32, request_id, response_to, OP_MSG, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(0);
    out.extend_from_slice(&doc);
    Ok(out)
}

/// Encodes an OP_MSG request (used by tests that talk raw bytes).
///
/// # Errors
/// If the document cannot be serialized.
pub fn encode_request(request_id: i32, body: &Document) -> Result<Vec<u8>, WireError> {
    encode_reply(request_id, 0, body)
}

fn take4(b: &[u8], at: usize) -> Result<[u8; 4], WireError> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .ok_or(WireError::Malformed("truncated section"))
}

fn read_doc(b: &[u8]) -> Result<(Document, usize), WireError> {
    let len = i32::from_le_bytes(take4(b, 0)?);
    let len = usize::try_from(len).map_err(|_| WireError::Malformed("negative document size"))?;
    if len < 5 || len > b.len() {
        return Err(WireError::Malformed("document size out of bounds"));
    }
    let doc = Document::from_reader(&mut &b[..len])?;
    Ok((doc, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn payload_of(msg: &[u8]) -> (Header, &[u8]) {
        let hdr: [u8; 16] = msg[..16].try_into().expect("16 bytes");
        (Header::parse(&hdr), &msg[16..])
    }

    #[test]
    fn round_trips_body() {
        let msg = encode_request(7, &doc! {"ping": 1, "$db": "admin"}).expect("encode");
        let (h, p) = payload_of(&msg);
        assert_eq!(h.length as usize, msg.len());
        let req = decode_op_msg(&h, p).expect("decode");
        assert_eq!(req.request_id, 7);
        assert_eq!(req.body.get_str("$db").expect("db"), "admin");
    }

    #[test]
    fn merges_document_sequence_and_tolerates_checksum() {
        let body = doc! {"insert": "c", "$db": "d"};
        let mut b = Vec::new();
        body.to_writer(&mut b).expect("write");
        let mut seq = b"documents\0".to_vec();
        for i in 0..2 {
            doc! {"_id": i}.to_writer(&mut seq).expect("write");
        }
        let mut p = 1u32.to_le_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(&b);
        p.push(1);
        p.extend_from_slice(&((seq.len() + 4) as i32).to_le_bytes());
        p.extend_from_slice(&seq);
        p.extend_from_slice(&[0xAA; 4]);
        let h = Header {
            length: (16 + p.len()) as i32,
            request_id: 1,
            response_to: 0,
            op_code: OP_MSG,
        };
        let req = decode_op_msg(&h, &p).expect("decode");
        assert_eq!(req.body.get_array("documents").expect("docs").len(), 2);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let h = Header {
            length: 40,
            request_id: 1,
            response_to: 0,
            op_code: OP_MSG,
        };
        for bad in [
            &[][..],
            &[0, 0, 0, 0][..],
            &[0, 0, 0, 0, 0, 9, 0, 0, 0][..],
            &[0, 0, 0, 0, 1, 255, 255, 255, 255][..],
        ] {
            assert!(decode_op_msg(&h, bad).is_err());
        }
        let h = Header { op_code: 2004, ..h };
        assert!(matches!(
            decode_op_msg(&h, &[0; 8]),
            Err(WireError::Opcode(2004))
        ));
    }
}
