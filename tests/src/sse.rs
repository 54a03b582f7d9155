//! A Server-Sent Events client over HTTP (`GET /sse`), reading the stream
//! as it arrives: events (with their `id:`), comments, the stream's end.

use std::time::Duration;

use serde_json::Value;

/// One thing read from a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An event.
    Event(Event),
    /// A comment line (`: ping`), without its colon.
    Comment(String),
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its `id:` field, if it had one.
    pub id: Option<String>,
    /// Its `event:` field (`message` when absent).
    pub event: String,
    /// Its `data:` lines, joined.
    pub data: String,
}

impl Event {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }
}

/// An open stream.
pub struct SseClient {
    /// The response being read.
    resp: reqwest::Response,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
    /// The fields of the event being read.
    pending: (Option<String>, Option<String>, Vec<String>),
    /// Whether the body ended.
    pub ended: bool,
    /// The last `id:` seen, as EventSource keeps it.
    pub last_id: Option<String>,
}

/// A refused request: its status and JSON body.
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The body, as JSON (`null` when it is not JSON).
    pub body: Value,
}

impl SseClient {
    /// Opens `url` with `headers`.
    ///
    /// # Errors
    /// [`Refused`] when the gateway answers anything but a 200 stream.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Result<Self, Refused> {
        let mut req = reqwest::Client::new().get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("GET /sse");
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(Refused {
                status,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
            });
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("text/event-stream"), "content-type {ct}");
        Ok(Self {
            resp,
            buf: Vec::new(),
            pending: (None, None, Vec::new()),
            ended: false,
            last_id: None,
        })
    }

    /// The next item, or `None` when the stream ended or nothing came
    /// within `wait`.
    pub async fn next_item(&mut self, wait: Duration) -> Option<Item> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(item) = self.parse_one() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(_) => self.ended = true,
            }
        }
    }

    /// The next event (comments skipped), or `None` as [`Self::next_item`].
    pub async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_item(left).await? {
                Item::Event(e) => return Some(e),
                Item::Comment(_) => {}
            }
        }
    }

    /// The next event, which must come within 10 s.
    pub async fn event(&mut self) -> Event {
        match self.next_event(Duration::from_secs(10)).await {
            Some(e) => e,
            None => panic!("no event within 10 s (ended: {})", self.ended),
        }
    }

    fn parse_one(&mut self) -> Option<Item> {
        loop {
            let nl = self.buf.iter().position(|&b| b == b'\n')?;
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            if line.is_empty() {
                let (id, event, data) = std::mem::take(&mut self.pending);
                if event.is_none() && data.is_empty() && id.is_none() {
                    continue;
                }
                if id.is_some() {
                    self.last_id = id.clone();
                }
                return Some(Item::Event(Event {
                    id,
                    event: event.unwrap_or_else(|| "message".into()),
                    data: data.join("\n"),
                }));
            }
            if let Some(c) = line.strip_prefix(':') {
                return Some(Item::Comment(c.trim().to_owned()));
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            match field {
                "id" => self.pending.0 = Some(value),
                "event" => self.pending.1 = Some(value),
                "data" => self.pending.2.push(value),
                _ => {}
            }
        }
    }
}
