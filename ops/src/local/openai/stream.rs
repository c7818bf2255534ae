//! A streamed chat completion (`stream: true`) as a [`ModelStream`].
//!
//! The body is Server-Sent Events: `data: {chunk}` events, blank-line separated, ended by
//! `data: [DONE]`. Each chunk may carry `choices[0].delta.content` (text) and
//! `choices[0].finish_reason`; with `stream_options.include_usage` a last chunk carries `usage`.

use std::collections::VecDeque;

use chatbot_core::domain::api::Usage;
use chatbot_core::ports::{ModelError, ModelEvent, ModelStream, STOP_END_TURN};
use serde_json::Value;

use super::sse::{SseDecoder, SseEvent};
use super::{MAX_ERROR_CHARS, MODEL_PREFIX, Server, server_message, usage};

/// The whole body: far above any `max_tokens` reply, so only a runaway server reaches it.
const MAX_STREAM_BYTES: usize = 16 * 1024 * 1024;

type Item = Result<ModelEvent, ModelError>;

/// The reply's deltas, then its end or one error. Dropping the stream drops the response, which
/// closes the connection: the server stops generating.
pub(super) fn events(
    response: reqwest::Response,
    server: Server,
    model: &str,
    max_tokens: u32,
) -> ModelStream {
    let reply = Reply {
        response: Some(response),
        server,
        decoder: SseDecoder::default(),
        ready: VecDeque::new(),
        received: 0,
        model: model.to_owned(),
        max_tokens,
        finish: None,
        usage: Usage::default(),
        text_seen: false,
    };
    Box::pin(futures_util::stream::unfold(reply, |mut reply| async move {
        let item = reply.next().await?;
        Some((item, reply))
    }))
}

struct Reply {
    /// `None` once the reply is over: the connection closes then, not when the caller drops.
    response: Option<reqwest::Response>,
    server: Server,
    decoder: SseDecoder,
    /// Items decoded from the last chunk and not yet taken: one chunk may hold several events.
    ready: VecDeque<Item>,
    received: usize,
    /// The served model, as the chunks name it; the configured one until they do.
    model: String,
    max_tokens: u32,
    finish: Option<String>,
    usage: Usage,
    text_seen: bool,
}

impl Reply {
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            let response = self.response.as_mut()?;
            let mut events = Vec::new();
            let decoded = match response.chunk().await {
                Ok(Some(bytes)) => {
                    self.received += bytes.len();
                    if self.received > MAX_STREAM_BYTES {
                        let what = format!("sent a stream over {} MiB", MAX_STREAM_BYTES >> 20);
                        self.fail(self.malformed(&what));
                        continue;
                    }
                    self.decoder.feed(&bytes, &mut events)
                }
                Ok(None) => self.decoder.finish(&mut events),
                Err(e) => {
                    self.fail(self.server.transport(&e));
                    continue;
                }
            };
            let at_eof = self.decoder.ended;
            for event in events {
                if self.on_event(event) {
                    break;
                }
            }
            if self.response.is_none() {
                // An event above ended the reply: nothing after it counts, not even a bad byte.
                continue;
            }
            if let Err(e) = decoded {
                self.fail(self.malformed(&format!("sent {e}")));
            } else if at_eof {
                self.end_at_eof();
            }
        }
    }

    /// Handles one event; `true` when the reply is over.
    fn on_event(&mut self, event: SseEvent) -> bool {
        if self.response.is_none() {
            return true;
        }
        if event.error {
            // llama.cpp reports a failure mid-reply as an `error:` line rather than a `data:` one.
            self.fail(self.mid_reply_error(&event.data));
            return true;
        }
        if event.data.trim() == "[DONE]" {
            // The server's explicit end: a missing finish_reason is an ordinary end of turn.
            let finish = self.finish.take().unwrap_or_else(|| STOP_END_TURN.to_owned());
            self.end(finish);
            return true;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            self.fail(self.malformed("sent a chunk that is not JSON"));
            return true;
        };
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            self.fail(self.mid_reply_error(&event.data));
            return true;
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
            model.clone_into(&mut self.model);
        }
        if chunk.get("usage").is_some_and(Value::is_object) {
            self.usage = usage(&chunk);
        }
        if let Some(choice) = chunk.pointer("/choices/0") {
            if let Some(text) =
                choice.pointer("/delta/content").and_then(Value::as_str).filter(|t| !t.is_empty())
            {
                self.text_seen = true;
                self.ready.push_back(Ok(ModelEvent::Delta(text.to_owned())));
            }
            if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(stop_reason(finish));
            }
        }
        false
    }

    /// The body ended without `[DONE]`: a whole reply if a finish_reason came, else a cut one.
    fn end_at_eof(&mut self) {
        match self.finish.take() {
            Some(finish) => self.end(finish),
            None => {
                let what = format!("{} ended the stream before the reply finished", self.server.endpoint);
                self.fail(self.server.unavailable(&what, None));
            }
        }
    }

    fn end(&mut self, stop_reason: String) {
        self.response = None;
        if stop_reason == "max_tokens" {
            tracing::warn!(model = %self.model, max_tokens = self.max_tokens, "reply cut at max_tokens");
        }
        // As `complete()` refuses an empty answer: storing one would hide the failure.
        let item = if self.text_seen {
            Ok(ModelEvent::End {
                model: format!("{MODEL_PREFIX}{}", self.model),
                stop_reason,
                usage: self.usage,
            })
        } else {
            Err(self.malformed(&format!("with no text (finish reason {stop_reason})")))
        };
        self.ready.push_back(item);
    }

    /// Ends the reply with `err` after the deltas already decoded.
    fn fail(&mut self, err: ModelError) {
        self.response = None;
        self.ready.push_back(Err(err));
    }

    fn malformed(&self, what: &str) -> ModelError {
        ModelError::Failed { reason: format!("{} answered 200 but {what}", self.server.endpoint) }
    }

    /// An error the server sent inside the stream, quoted like a status error's; a 5xx code in it
    /// is the server's trouble, anything else the request's.
    fn mid_reply_error(&self, data: &str) -> ModelError {
        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        let message = if v.is_null() {
            data.chars().filter(|c| !c.is_control()).take(MAX_ERROR_CHARS).collect()
        } else {
            server_message(data.as_bytes())
        };
        let code = v.pointer("/error/code").and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()));
        let what = format!("{} failed mid-reply ({message})", self.server.endpoint);
        match code {
            Some(500..=599) => self.server.unavailable(&what, None),
            _ => ModelError::Failed { reason: what },
        }
    }
}

/// OpenAI's finish reasons in the port's words (Bedrock's): `stop` is `end_turn`, `length` is
/// `max_tokens`; others (`content_filter`, `tool_calls`…) pass through.
fn stop_reason(finish: &str) -> String {
    match finish {
        "stop" => STOP_END_TURN.to_owned(),
        "length" => "max_tokens".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::stop_reason;

    #[test]
    fn finish_reasons_are_named_as_the_port_names_them() {
        assert_eq!(stop_reason("stop"), "end_turn");
        assert_eq!(stop_reason("length"), "max_tokens");
        assert_eq!(stop_reason("content_filter"), "content_filter");
    }
}
