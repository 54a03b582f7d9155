//! An incremental `text/event-stream` parser with bounded buffers.
//!
//! Bytes arrive in chunks cut anywhere; [`Parser::feed`] consumes a chunk
//! up to the end of the next event and returns it, keeping only the
//! partial line and the event being assembled. Lines end with `\n`,
//! `\r\n` or `\r` (also when the `\r` and the `\n` arrive in different
//! chunks). Comment lines (`: ping`) are skipped, `retry:` and unknown
//! fields ignored, as the HTML standard's EventSource does. One event's
//! fields together may be at most the parser's limit: past it, the stream
//! is refused ([`ParseError::TooLong`]) rather than buffered.

/// The default limit on one event's bytes (its lines together).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// A buffer above this capacity is given back after its event.
const KEEP_CAPACITY: usize = 4096;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
}

/// Why a stream cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An event (or one line) is longer than the limit.
    #[error("an event is longer than {0} bytes")]
    TooLong(usize),
    /// A field is not UTF-8.
    #[error("an event field is not UTF-8")]
    Utf8,
}

/// The parser's state between chunks.
#[derive(Debug)]
pub struct Parser {
    /// The line read so far.
    line: Vec<u8>,
    /// The event's `data` so far, each line followed by `\n`.
    data: Vec<u8>,
    /// The event's `event` field.
    event: Option<String>,
    /// The event's `id` field.
    id: Option<String>,
    /// Whether the last line ended with `\r` at the very end of a chunk
    /// (a `\n` opening the next chunk belongs to it).
    after_cr: bool,
    /// The limit on one event's bytes.
    max: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(MAX_EVENT_BYTES)
    }
}

impl Parser {
    /// A parser refusing events longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            line: Vec::new(),
            data: Vec::new(),
            event: None,
            id: None,
            after_cr: false,
            max,
        }
    }

    /// Bytes held between chunks (the partial line and event).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len()
    }

    /// Consumes `input` up to the end of the next event and returns it, or
    /// consumes all of it and returns `None` when no event ended in it.
    ///
    /// # Errors
    /// [`ParseError`] when an event is too long or not UTF-8.
    pub fn feed(&mut self, input: &mut &[u8]) -> Result<Option<Event>, ParseError> {
        loop {
            if self.after_cr && !input.is_empty() {
                self.after_cr = false;
                if input[0] == b'\n' {
                    *input = &input[1..];
                }
            }
            let Some(end) = input.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.grow_line(input.len())?;
                self.line.extend_from_slice(input);
                *input = &[];
                return Ok(None);
            };
            self.grow_line(end)?;
            self.line.extend_from_slice(&input[..end]);
            let cr = input[end] == b'\r';
            *input = &input[end + 1..];
            if cr {
                match input.first() {
                    Some(b'\n') => *input = &input[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            let done = self.line_done(&line);
            self.line = line;
            self.line.clear();
            if self.line.capacity() > KEEP_CAPACITY {
                self.line.shrink_to(KEEP_CAPACITY);
            }
            if let Some(ev) = done? {
                return Ok(Some(ev));
            }
        }
    }

    fn grow_line(&self, more: usize) -> Result<(), ParseError> {
        if self.line.len() + self.data.len() + more > self.max {
            return Err(ParseError::TooLong(self.max));
        }
        Ok(())
    }

    /// Handles one complete line; an empty line dispatches the event.
    fn line_done(&mut self, line: &[u8]) -> Result<Option<Event>, ParseError> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        let text = |v: &[u8]| {
            std::str::from_utf8(v)
                .map(str::to_owned)
                .map_err(|_| ParseError::Utf8)
        };
        match field {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => self.event = Some(text(value)?),
            b"id" if !value.contains(&0) => self.id = Some(text(value)?),
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Result<Option<Event>, ParseError> {
        let event = self.event.take();
        let id = self.id.take();
        if self.data.is_empty() {
            return Ok(None);
        }
        self.data.pop();
        let data = String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| ParseError::Utf8);
        if self.data.capacity() > KEEP_CAPACITY {
            self.data.shrink_to(KEEP_CAPACITY);
        }
        Ok(Some(Event {
            event: event.unwrap_or_else(|| "message".to_owned()),
            data: data?,
            id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` in order and collects every event.
    fn parse(p: &mut Parser, chunks: &[&[u8]]) -> Result<Vec<Event>, ParseError> {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut input = *chunk;
            while !input.is_empty() {
                if let Some(ev) = p.feed(&mut input)? {
                    out.push(ev);
                }
            }
        }
        Ok(out)
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> Event {
        Event {
            event: event.into(),
            data: data.into(),
            id: id.map(str::to_owned),
        }
    }

    const STREAM: &[u8] = b"event: subscribed\nid: 1.a\ndata: {\"a\":1}\n\n: ping\n\nevent: message\r\nid: 2.a\r\ndata: {\"b\":2}\r\n\r\ndata: x\rdata: y\r\r";

    #[test]
    fn events_parse_whole() {
        let evs = parse(&mut Parser::default(), &[STREAM]).unwrap();
        assert_eq!(
            evs,
            vec![
                ev("subscribed", "{\"a\":1}", Some("1.a")),
                ev("message", "{\"b\":2}", Some("2.a")),
                ev("message", "x\ny", None),
            ]
        );
    }

    #[test]
    fn events_split_at_every_byte_parse_the_same() {
        let whole = parse(&mut Parser::default(), &[STREAM]).unwrap();
        for cut in 0..STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            let split = parse(&mut Parser::default(), &[a, b]).unwrap();
            assert_eq!(split, whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse(&mut Parser::default(), &bytes).unwrap(), whole);
    }

    #[test]
    fn a_crlf_split_between_chunks_is_one_line_end() {
        let evs = parse(
            &mut Parser::default(),
            &[b"data: a\r", b"\n\r", b"\ndata: b\n\n"],
        )
        .unwrap();
        assert_eq!(
            evs,
            vec![ev("message", "a", None), ev("message", "b", None)]
        );
    }

    #[test]
    fn comments_and_fields_without_data_dispatch_nothing() {
        let evs = parse(
            &mut Parser::default(),
            &[b": ping\n\nevent: x\nretry: 5\n\nunknown\ndata\n\n"],
        )
        .unwrap();
        // `data` without a colon is a data line with an empty value.
        assert_eq!(evs, vec![ev("message", "", None)]);
    }

    #[test]
    fn multi_line_data_joins_with_newlines_and_keeps_one_space() {
        let evs = parse(
            &mut Parser::default(),
            &[b"data:one\ndata:  two\ndata: \n\n"],
        )
        .unwrap();
        assert_eq!(evs, vec![ev("message", "one\n two\n", None)]);
    }

    #[test]
    fn an_oversized_event_is_refused_not_buffered() {
        let mut p = Parser::new(32);
        let long = [b'x'; 40];
        assert_eq!(
            parse(&mut p, &[b"data: ", &long[..20], &long[20..]]),
            Err(ParseError::TooLong(32))
        );
        assert!(p.buffered() <= 32);
        // Many short lines of one event count together.
        let mut p = Parser::new(32);
        let lines: Vec<&[u8]> = std::iter::repeat_n(&b"data: 0123456789\n"[..], 4).collect();
        assert_eq!(parse(&mut p, &lines), Err(ParseError::TooLong(32)));
        // Events under the limit pass, one after another.
        let mut p = Parser::new(32);
        let evs = parse(&mut p, &[b"data: 0123456789\n\n", b"data: 0123456789\n\n"]).unwrap();
        assert_eq!(evs.len(), 2);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(
            parse(&mut Parser::default(), &[b"data: \xff\n\n"]),
            Err(ParseError::Utf8)
        );
    }
}
