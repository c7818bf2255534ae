//! The streamed form of `POST /chat`: Server-Sent Events, and a parser for the clients.
//!
//! A stream is `start`, then `citations` when RAG is on, then `delta`s, then exactly one of
//! `done` or `error`. Each event's data is one line of JSON; the types below are the wire, so
//! opsctl reads the very types the handler writes. Lines starting with `:` are keep-alive
//! comments, sent while the model is silent so proxies do not close an idle connection.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::api::{Citation, Usage};
use super::error::{ErrorBody, ErrorDetail};

pub const CONTENT_TYPE: &str = "text/event-stream";

/// A comment line: clients ignore it, and it keeps the connection busy.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// An event larger than this is not one the API sends: the parser refuses it rather than buffer
/// a misbehaving server's output without bound.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub conversation_id: String,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citations {
    pub citations: Vec<Citation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub conversation_id: String,
    pub message_id: String,
    pub model: String,
    pub usage: Usage,
    pub stop_reason: String,
    /// The whole reply as sanitised HTML, for the web app (see [`super::markdown`]).
    #[serde(default)]
    pub html: String,
}

/// One event of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start(Start),
    Citations(Citations),
    Delta(Delta),
    Done(Done),
    /// The API's error object, as a JSON error response carries it.
    Error(ErrorBody),
}

impl StreamEvent {
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Start(_) => "start",
            StreamEvent::Citations(_) => "citations",
            StreamEvent::Delta(_) => "delta",
            StreamEvent::Done(_) => "done",
            StreamEvent::Error(_) => "error",
        }
    }

    pub fn error(detail: ErrorDetail) -> Self {
        StreamEvent::Error(ErrorBody { error: detail })
    }

    /// The event on the wire: `event:` and one `data:` line. JSON escapes every newline, so the
    /// data is always one line.
    pub fn encode(&self) -> Bytes {
        let data = match self {
            StreamEvent::Start(e) => serde_json::to_string(e),
            StreamEvent::Citations(e) => serde_json::to_string(e),
            StreamEvent::Delta(e) => serde_json::to_string(e),
            StreamEvent::Done(e) => serde_json::to_string(e),
            StreamEvent::Error(e) => serde_json::to_string(e),
        };
        // These types hold only strings and numbers, which always serialise; the fallback keeps
        // the stream well formed all the same.
        let data = data.unwrap_or_else(|_| {
            r#"{"error":{"code":"internal","message":"internal error","request_id":""}}"#.to_owned()
        });
        Bytes::from(format!("event: {}\ndata: {data}\n\n", self.name()))
    }

    /// Reads an event a client received; `None` for an event name this version does not know,
    /// which a client should skip.
    pub fn decode(event: &str, data: &str) -> Option<Result<Self, serde_json::Error>> {
        Some(match event {
            "start" => serde_json::from_str(data).map(StreamEvent::Start),
            "citations" => serde_json::from_str(data).map(StreamEvent::Citations),
            "delta" => serde_json::from_str(data).map(StreamEvent::Delta),
            "done" => serde_json::from_str(data).map(StreamEvent::Done),
            "error" => serde_json::from_str(data).map(StreamEvent::Error),
            _ => return None,
        })
    }

    /// Whether this event ends the stream.
    pub fn is_final(&self) -> bool {
        matches!(self, StreamEvent::Done(_) | StreamEvent::Error(_))
    }
}

/// Whether an `Accept` header asks for an event stream: `text/event-stream` named (or `text/*`
/// is not enough: a client must ask for the stream on purpose) with a non-zero quality.
pub fn wants_events(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if !media.eq_ignore_ascii_case(CONTENT_TYPE) {
            return false;
        }
        let q = parts.filter_map(|p| p.strip_prefix("q=")).next_back();
        q.is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
    })
}

/// One event as received: its name (`message` when none was given) and its data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the server sent an event over {MAX_EVENT_BYTES} bytes; it is not this API's stream")]
pub struct EventTooLarge;

/// Splits a byte stream into events as the SSE format defines them, whatever the chunking:
/// a chunk may end inside a line, or inside a UTF-8 character.
#[derive(Debug, Default)]
pub struct EventParser {
    pending: Vec<u8>,
    event: String,
    data: Vec<String>,
    size: usize,
}

impl EventParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds received bytes; returns the events they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<RawEvent>, EventTooLarge> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if let Some(event) = self.line(line)? {
                out.push(event);
            }
        }
        if self.pending.len() + self.size > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Result<Option<RawEvent>, EventTooLarge> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            self.size = 0;
            if data.is_empty() {
                return Ok(None);
            }
            let event = if event.is_empty() { "message".to_owned() } else { event };
            return Ok(Some(RawEvent { event, data: data.join("\n") }));
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        self.size += line.len();
        if self.size > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done() -> StreamEvent {
        StreamEvent::Done(Done {
            conversation_id: "c".into(),
            message_id: "m".into(),
            model: "x".into(),
            usage: Usage { input_tokens: 3, output_tokens: 4 },
            html: "<p>done</p>".into(),
            stop_reason: "end_turn".into(),
        })
    }

    #[test]
    fn events_round_trip_through_the_parser_however_the_bytes_are_cut() {
        let events = vec![
            StreamEvent::Start(Start { conversation_id: "c".into(), request_id: "r".into() }),
            StreamEvent::Delta(Delta { text: "two\nlines, é and \"quotes\"".into() }),
            done(),
        ];
        let mut wire = Vec::new();
        for e in &events {
            wire.extend_from_slice(&e.encode());
            wire.extend_from_slice(KEEP_ALIVE);
        }
        for cut in [1, 2, 3, 7, wire.len()] {
            let mut parser = EventParser::new();
            let mut got = Vec::new();
            for chunk in wire.chunks(cut) {
                for raw in parser.push(chunk).unwrap() {
                    got.push(StreamEvent::decode(&raw.event, &raw.data).unwrap().unwrap());
                }
            }
            assert_eq!(got, events, "chunks of {cut}");
        }
    }

    #[test]
    fn the_data_of_an_event_is_one_line() {
        let wire = StreamEvent::Delta(Delta { text: "a\n\nb\r\n".into() }).encode();
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 3, "{wire:?}");
        assert!(wire.starts_with(b"event: delta\ndata: {"));
    }

    #[test]
    fn unknown_events_are_skipped_and_only_done_or_error_end_a_stream() {
        assert!(StreamEvent::decode("later-feature", "{}").is_none());
        assert!(done().is_final());
        assert!(!StreamEvent::Delta(Delta { text: String::new() }).is_final());
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut parser = EventParser::new();
        let line = vec![b'x'; 64 * 1024];
        let mut result = Ok(vec![]);
        for _ in 0..20 {
            result = parser.push(b"data: ").and_then(|_| parser.push(&line));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventTooLarge));
    }

    #[test]
    fn accept_headers() {
        for yes in ["text/event-stream", "application/json, text/event-stream;q=0.5", "TEXT/EVENT-STREAM"] {
            assert!(wants_events(Some(yes)), "{yes}");
        }
        for no in [None, Some("*/*"), Some("text/*"), Some("application/json"), Some("text/event-stream;q=0")]
        {
            assert!(!wants_events(no), "{no:?}");
        }
    }
}
