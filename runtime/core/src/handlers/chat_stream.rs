//! `POST /chat` with `Accept: text/event-stream`: the same turn as [`super::chat`], with the reply
//! sent as Server-Sent Events while the model writes it (see [`crate::domain::sse`]).
//!
//! Everything that can fail before the first byte fails as the JSON turn does, with its status
//! code: auth, validation, size, idempotency, storing the user message, and the model refusing
//! to start (throttling above all). Once `start` is sent the status is 200, and a failure is an
//! `error` event.
//!
//! The relay runs in a task of its own, so a caller who goes away cannot cut it short: it stops
//! the model (dropping its stream closes the provider's connection, which stops the billing),
//! then stores what was written, marked `stopped`; a model failing mid-reply leaves its partial
//! reply marked `failed`. The user message was stored before the model was called, as always.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::chat::{Answer, Prepared, Turn, model_error};
use super::idempotency::{self, Begin, Held};
use super::{ApiRequest, ChatApp};
use crate::domain::api::{ChatRequest, ChatResponse, Usage};
use crate::domain::error::ApiError;
use crate::domain::markdown;
use crate::domain::message::ReplyStatus;
use crate::domain::prompt::{ContextSlot, estimate_tokens};
use crate::domain::sse::{self, Citations, Delta, Done, Start, StreamEvent};
use crate::ports::{ModelError, ModelEvent, ModelStream, STOP_END_TURN};

/// Events waiting for a slow reader; past this, the relay waits for the reader rather than buffer
/// the whole reply.
const BUFFERED_EVENTS: usize = 64;

/// Answers a streamed turn: the receiver yields the encoded events, then ends.
pub async fn chat_stream(app: Arc<ChatApp>, req: &ApiRequest) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let started = Instant::now();
    let key_calls_before = app.cipher.key_service_calls();
    let request_id = req.request_id.as_str();

    super::authenticate(&app, req).await?;
    let key = idempotency::key_hash(req.idempotency_key.as_deref())?;
    let request = ChatRequest::parse(&req.body)?;
    let held = match key {
        None => None,
        Some(key) => match idempotency::begin(&app, key, &request, request_id).await? {
            Begin::Replay(response) => return Ok(replay(&response, request_id)),
            Begin::Run(held) => Some(held),
        },
    };
    let turn = Turn { app: &app, request_id, started, key_calls_before };
    let started_stream = async {
        let prepared = turn.prepare(request, held.as_ref()).await?;
        let model_started = Instant::now();
        match app.model.stream(&prepared.prompt).await {
            Ok(stream) => Ok((prepared, stream, model_started)),
            Err(e) => Err(turn.model_failed(&prepared, &e)),
        }
    };
    let (prepared, stream, model_started) = match started_stream.await {
        Ok(started) => started,
        Err(e) => {
            if let Some(held) = &held {
                held.release(&app, request_id).await;
            }
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel(BUFFERED_EVENTS);
    let relay = Relay { app: app.clone(), request_id: req.request_id.clone(), started, key_calls_before };
    tokio::spawn(relay.run(prepared, stream, model_started, held, tx));
    Ok(rx)
}

/// A repeat of a request already answered: its stored reply, as one delta.
fn replay(response: &ChatResponse, request_id: &str) -> mpsc::Receiver<Bytes> {
    let events = [
        StreamEvent::Start(Start {
            conversation_id: response.conversation_id.clone(),
            request_id: request_id.to_owned(),
        }),
        StreamEvent::Citations(Citations { citations: response.citations.clone() }),
        StreamEvent::Delta(Delta { text: response.reply.clone() }),
        StreamEvent::Done(Done {
            conversation_id: response.conversation_id.clone(),
            message_id: response.message_id.clone(),
            model: response.model.clone(),
            usage: response.usage,
            stop_reason: STOP_END_TURN.to_owned(),
            html: markdown::to_html(&response.reply),
        }),
    ];
    let (tx, rx) = mpsc::channel(events.len());
    for e in events {
        // The channel has room for every event and the receiver is still here.
        let _ = tx.try_send(e.encode());
    }
    rx
}

struct Relay {
    app: Arc<ChatApp>,
    request_id: String,
    started: Instant,
    key_calls_before: u64,
}

/// How the model's stream ended.
enum Ending {
    Complete {
        model: String,
        stop_reason: String,
        usage: Usage,
    },
    /// The caller went away.
    Stopped,
    Failed(ModelError),
}

impl Relay {
    async fn run(
        self,
        prepared: Prepared,
        mut stream: ModelStream,
        model_started: Instant,
        held: Option<Held>,
        tx: mpsc::Sender<Bytes>,
    ) {
        let conversation_id = prepared.conversation_id.to_string();
        let request_id = self.request_id.as_str();
        let mut text = String::new();
        let start = StreamEvent::Start(Start {
            conversation_id: conversation_id.clone(),
            request_id: request_id.to_owned(),
        });
        let mut opening = vec![start];
        if !matches!(prepared.context, ContextSlot::Disabled) {
            opening.push(StreamEvent::Citations(Citations { citations: prepared.citations() }));
        }
        let mut ending = None;
        for event in opening {
            if tx.send(event.encode()).await.is_err() {
                ending = Some(Ending::Stopped);
            }
        }
        let ending = match ending {
            Some(ending) => ending,
            None => self.relay(&mut stream, &tx, &mut text).await,
        };
        // Stop the generation before anything else: the tokens cost money.
        drop(stream);
        let model_latency = model_started.elapsed();

        let turn = Turn {
            app: &self.app,
            request_id,
            started: self.started,
            key_calls_before: self.key_calls_before,
        };
        let model = self.app.model.id().to_owned();
        let (status, model, usage, stop_reason) = match &ending {
            Ending::Complete { model, stop_reason, usage } => {
                (ReplyStatus::Complete, model.clone(), *usage, stop_reason.clone())
            }
            // The provider's counts never came; these estimates keep the cost figures honest.
            Ending::Stopped => {
                (ReplyStatus::Stopped, model, estimated_usage(&prepared, &text), String::new())
            }
            Ending::Failed(_) => {
                (ReplyStatus::Failed, model, estimated_usage(&prepared, &text), String::new())
            }
        };
        if status != ReplyStatus::Complete {
            tracing::warn!(
                request_id,
                conversation_id,
                status = status.as_str(),
                kept_bytes = text.len(),
                "the streamed reply ended early; its partial text is kept"
            );
        }
        // Rendered here, once: the app swaps the streamed text for it when the reply is done.
        let html = if status == ReplyStatus::Complete { markdown::to_html(&text) } else { String::new() };
        let answer = Answer { text, model, usage, status, model_latency };
        let response = turn.finish(&prepared, answer).await;
        // Every write is done before the last event: a runtime may freeze once the body ends.
        let last = match ending {
            Ending::Complete { .. } => {
                if let Some(held) = &held {
                    held.complete(&self.app, &response, request_id).await;
                }
                StreamEvent::Done(Done {
                    conversation_id,
                    message_id: response.message_id,
                    model: response.model,
                    usage: response.usage,
                    stop_reason,
                    html,
                })
            }
            Ending::Stopped | Ending::Failed(_) => {
                if let Some(held) = &held {
                    held.release(&self.app, request_id).await;
                }
                let Ending::Failed(e) = &ending else { return };
                tracing::warn!(request_id, conversation_id, model = self.app.model.id(), error = %e, "the model failed mid-reply");
                StreamEvent::error(model_error(e).detail(request_id))
            }
        };
        let _ = tx.send(last.encode()).await;
    }

    /// Passes the model's deltas on until it ends, fails, or the caller goes away, with a
    /// keep-alive comment whenever the model is silent for the configured interval.
    async fn relay(&self, stream: &mut ModelStream, tx: &mpsc::Sender<Bytes>, text: &mut String) -> Ending {
        let keep_alive = self.app.settings.keep_alive;
        loop {
            let next = tokio::select! {
                biased;
                () = tx.closed() => return Ending::Stopped,
                next = tokio::time::timeout(keep_alive, stream.next()) => next,
            };
            let event = match next {
                Err(_silent) => Bytes::from_static(sse::KEEP_ALIVE),
                Ok(None) => {
                    let reason = "the model's stream ended without finishing the reply".to_owned();
                    return Ending::Failed(ModelError::Unavailable {
                        retry_after: std::time::Duration::from_secs(5),
                        reason,
                    });
                }
                Ok(Some(Err(e))) => return Ending::Failed(e),
                Ok(Some(Ok(ModelEvent::End { model, stop_reason, usage }))) => {
                    return Ending::Complete { model, stop_reason, usage };
                }
                Ok(Some(Ok(ModelEvent::Delta(delta)))) => {
                    text.push_str(&delta);
                    StreamEvent::Delta(Delta { text: delta }).encode()
                }
            };
            if tx.send(event).await.is_err() {
                return Ending::Stopped;
            }
        }
    }
}

fn estimated_usage(prepared: &Prepared, text: &str) -> Usage {
    let prompt = &prepared.prompt;
    let input = estimate_tokens(&prompt.system)
        + prompt.documents.as_deref().map_or(0, estimate_tokens)
        + prompt.turns.iter().map(|t| estimate_tokens(&t.text)).sum::<usize>();
    let saturate = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Usage { input_tokens: saturate(input), output_tokens: saturate(estimate_tokens(text)) }
}
