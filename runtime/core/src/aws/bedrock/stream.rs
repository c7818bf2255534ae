//! The events of a `ConverseStream` reply as a [`ModelStream`].
//!
//! Bedrock sends `messageStart`, then per content block `contentBlockStart` / `Delta`s /
//! `contentBlockStop`, then `messageStop` (the stop reason) and `metadata` (the usage), and
//! closes the stream. Only text deltas reach the caller; the reply ends with one
//! [`ModelEvent::End`] once the stream has closed after a `messageStop`.

use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput, StopReason};

use super::{CONVERSE_STREAM_ACTION, UNAVAILABLE_RETRY_AFTER, classify_with_status, no_text};
use crate::domain::api::Usage;
use crate::ports::{ModelError, ModelEvent, ModelStream};

type Receiver = EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>;

struct Reply {
    /// `None` once the reply has ended: the receiver, and with it the connection, is dropped at
    /// once rather than when the caller drops the stream.
    receiver: Option<Receiver>,
    model_id: String,
    max_tokens: u32,
    stop_reason: Option<StopReason>,
    usage: Usage,
    text_seen: bool,
}

/// The reply's deltas, then its end or one error. Dropping the stream drops the SDK's event
/// receiver and so closes the connection, which stops the generation and its billing.
pub(super) fn events(receiver: Receiver, model_id: String, max_tokens: u32) -> ModelStream {
    let reply = Reply {
        receiver: Some(receiver),
        model_id,
        max_tokens,
        stop_reason: None,
        usage: Usage::default(),
        text_seen: false,
    };
    Box::pin(futures_util::stream::unfold(reply, |mut reply| async move {
        let item = reply.next().await?;
        Some((item, reply))
    }))
}

impl Reply {
    /// The next item for the caller; `None` after the end or an error.
    async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        loop {
            let receiver = self.receiver.as_mut()?;
            let event = match receiver.recv().await {
                Ok(Some(event)) => event,
                Ok(None) => return Some(self.finish()),
                Err(e) => {
                    self.receiver = None;
                    return Some(Err(classify_with_status(&self.model_id, CONVERSE_STREAM_ACTION, &e, None)));
                }
            };
            match event {
                ConverseStreamOutput::ContentBlockDelta(d) => {
                    // Reasoning, tool use and citations are not part of the text the caller sees.
                    if let Some(ContentBlockDelta::Text(text)) = d.delta
                        && !text.is_empty()
                    {
                        self.text_seen = true;
                        return Some(Ok(ModelEvent::Delta(text)));
                    }
                }
                ConverseStreamOutput::MessageStop(stop) => self.stop_reason = Some(stop.stop_reason),
                ConverseStreamOutput::Metadata(meta) => {
                    if let Some(u) = meta.usage {
                        self.usage = Usage {
                            input_tokens: u32::try_from(u.input_tokens).unwrap_or(0),
                            output_tokens: u32::try_from(u.output_tokens).unwrap_or(0),
                        };
                    }
                }
                _ => {}
            }
        }
    }

    /// The stream has closed: the end of a whole reply, or an error for a cut one.
    fn finish(&mut self) -> Result<ModelEvent, ModelError> {
        self.receiver = None;
        let Some(stop_reason) = self.stop_reason.take() else {
            // The connection closed cleanly between two events: the reply is cut short, and
            // an `End` would pass it off as whole.
            return Err(ModelError::Unavailable {
                retry_after: UNAVAILABLE_RETRY_AFTER,
                reason: format!(
                    "the ConverseStream reply of `{}` ended before its messageStop",
                    self.model_id
                ),
            });
        };
        if matches!(stop_reason, StopReason::MaxTokens) {
            tracing::warn!(model = %self.model_id, max_tokens = self.max_tokens, "reply cut at max_tokens");
        }
        if !self.text_seen {
            return Err(no_text(stop_reason.as_str()));
        }
        Ok(ModelEvent::End {
            model: self.model_id.clone(),
            stop_reason: stop_reason.as_str().to_owned(),
            usage: self.usage,
        })
    }
}
