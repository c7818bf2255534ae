//! `POST /chat`: one conversation turn, once per idempotency key. The steps run in a fixed order
//! (authenticate and validate, load the history, store the user message, retrieve, then call the
//! model) so that nothing is stored for a refused request and a model failure loses no message.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::idempotency::{self, Begin, Held};
use super::{ApiRequest, ChatApp};
use crate::domain::api::{ChatRequest, ChatResponse, Citation, Usage};
use crate::domain::error::ApiError;
use crate::domain::message::{
    ConversationId, Message, ReplyStatus, Role, SealedMessage, citations_aad, title_aad, title_from,
};
use crate::domain::prompt::{ContextSlot, HistoryLimits, Prompt, build_prompt_within};
use crate::ports::{Cipher, DEFAULT_OWNER, ListingChange, ModelError, Sealed, TurnMetrics};

pub async fn chat_turn(app: &ChatApp, req: &ApiRequest) -> Result<ChatResponse, ApiError> {
    let started = Instant::now();
    // Exact on Lambda, which runs one turn at a time; concurrent turns on the local gateway may
    // count each other's calls.
    let key_calls_before = app.cipher.key_service_calls();
    let request_id = req.request_id.as_str();

    // 1. Authenticate, then validate.
    super::authenticate(app, req).await?;
    let key = idempotency::key_hash(req.idempotency_key.as_deref())?;
    let request = ChatRequest::parse(&req.body)?;
    let turn = Turn { app, request_id, started, key_calls_before };
    let Some(key) = key else {
        return turn.run(request, None).await;
    };
    let held = match idempotency::begin(app, key, &request, request_id).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Run(held) => held,
    };
    let result = turn.run(request, Some(&held)).await;
    match &result {
        Ok(response) => held.complete(app, response, request_id).await,
        Err(_) => held.release(app, request_id).await,
    }
    result
}

pub(crate) struct Turn<'a> {
    pub(crate) app: &'a ChatApp,
    pub(crate) request_id: &'a str,
    pub(crate) started: Instant,
    pub(crate) key_calls_before: u64,
}

/// A turn ready for the model: the user message stored, the context retrieved, the prompt built.
pub(crate) struct Prepared {
    pub(crate) conversation_id: ConversationId,
    pub(crate) user: Message,
    history: History,
    pub(crate) context: ContextSlot,
    retrieval_latency: Option<Duration>,
    pub(crate) prompt: Prompt,
}

impl Prepared {
    /// The passages the reply may cite, as the caller sees them.
    pub(crate) fn citations(&self) -> Vec<Citation> {
        match &self.context {
            ContextSlot::Retrieved(chunks) => {
                chunks.iter().map(|c| Citation::of(&c.source, c.chunk, c.score, &c.text)).collect()
            }
            ContextSlot::Disabled | ContextSlot::Unavailable => Vec::new(),
        }
    }
}

/// What the model answered, whole or in part.
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) model: String,
    pub(crate) usage: Usage,
    pub(crate) status: ReplyStatus,
    pub(crate) model_latency: Duration,
}

impl Turn<'_> {
    async fn run(&self, request: ChatRequest, held: Option<&Held>) -> Result<ChatResponse, ApiError> {
        let prepared = self.prepare(request, held).await?;
        let model_started = Instant::now();
        let reply =
            self.app.model.complete(&prepared.prompt).await.map_err(|e| self.model_failed(&prepared, &e))?;
        let answer = Answer {
            text: reply.text,
            model: reply.model,
            usage: reply.usage,
            status: ReplyStatus::Complete,
            model_latency: model_started.elapsed(),
        };
        Ok(self.finish(&prepared, answer).await)
    }

    /// Logs a model failure and says what the caller gets for it.
    pub(crate) fn model_failed(&self, prepared: &Prepared, e: &ModelError) -> ApiError {
        let conversation_id = prepared.conversation_id.to_string();
        tracing::warn!(request_id = self.request_id, conversation_id, model = self.app.model.id(), error = %e, "model call failed; the user message is stored");
        model_error(e)
    }

    /// Steps 2 to 4 and the prompt: everything before the model is called.
    pub(crate) async fn prepare(
        &self,
        request: ChatRequest,
        held: Option<&Held>,
    ) -> Result<Prepared, ApiError> {
        let Turn { app, request_id, .. } = *self;
        // A takeover of an earlier attempt answers the user message that attempt stored.
        let resumed = held.and_then(|h| h.user_message.clone());
        let (conversation_id, is_new) = match (&resumed, request.conversation_id) {
            (Some((id, _)), _) => (*id, false),
            (None, Some(id)) => (id, false),
            (None, None) => (ConversationId::new(), true),
        };
        let conv = conversation_id.to_string();

        // 2. Load the last N messages (a new conversation has none to load).
        let mut history =
            if is_new { History::default() } else { load_history(app, &conversation_id, request_id).await? };

        // 3. Persist the user message before calling the model, so a model failure loses nothing.
        let user = match resumed {
            Some((_, sort_key)) => {
                history.messages.retain(|m| m.sort_key < sort_key);
                let message_id = sort_key.message_id().ok_or_else(ApiError::internal)?;
                let (role, content) = (Role::User, request.message);
                Message {
                    conversation_id,
                    message_id,
                    sort_key,
                    role,
                    content,
                    model: None,
                    usage: None,
                    status: None,
                    citations: Vec::new(),
                }
            }
            None => {
                let now = OffsetDateTime::now_utc();
                let at = history.messages.last().map_or(now, |m| m.sort_key.next_time(now));
                let user = Message::new(conversation_id, Role::User, request.message, at);
                // The first message names the conversation; an entry keeps its first title, so a
                // history cut to nothing by HISTORY_LENGTH=0 renames nothing.
                let first = history.messages.is_empty() && history.skipped == 0;
                let title = first.then_some(user.content.as_str());
                persist(app, &user, title).await.map_err(|e| {
                    tracing::error!(request_id, conversation_id = %conv, error = %e, "could not store the user message");
                    ApiError::internal()
                })?;
                if let Some(held) = held {
                    held.user_message_stored(app, &user, request_id).await;
                }
                user
            }
        };

        // 4. Retrieve context when RAG is on.
        let (context, retrieval_latency) = retrieve(app, &user.content, request_id).await;
        let limits =
            HistoryLimits { messages: app.settings.history_length, tokens: app.settings.history_tokens };
        let prompt = build_prompt_within(
            &app.settings.system_prompt,
            &history.messages,
            limits,
            &context,
            &user.content,
        );
        Ok(Prepared { conversation_id, user, history, context, retrieval_latency, prompt })
    }

    /// Steps 6 to 8: stores the reply (a partial one too, with its status), reports the turn.
    pub(crate) async fn finish(&self, prepared: &Prepared, answer: Answer) -> ChatResponse {
        let Turn { app, request_id, started, key_calls_before } = *self;
        let conv = prepared.conversation_id.to_string();
        // 6. Persist the reply. If that fails the caller still gets it: it is theirs, and the
        // history merely lacks it (the next prompt merges the unanswered user turns). A reply
        // stopped or failed before its first word leaves nothing to keep.
        let mut assistant = Message::new(
            prepared.conversation_id,
            Role::Assistant,
            answer.text,
            prepared.user.sort_key.next_time(OffsetDateTime::now_utc()),
        );
        assistant.model = Some(answer.model.clone());
        assistant.usage = Some(answer.usage);
        assistant.status = Some(answer.status);
        let keep = answer.status == ReplyStatus::Complete || !assistant.content.is_empty();
        assistant.citations = prepared.citations();
        if keep && let Err(e) = persist(app, &assistant, None).await {
            tracing::error!(request_id, conversation_id = %conv, error = %e, "could not store the reply; returning it anyway");
        }

        // 7. Metrics.
        let (history, model_latency, usage) = (&prepared.history, answer.model_latency, answer.usage);
        let total = started.elapsed();
        let handler_overhead = total
            .saturating_sub(model_latency)
            .saturating_sub(prepared.retrieval_latency.unwrap_or_default());
        app.metrics
            .record_turn(&TurnMetrics {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                model_latency,
                retrieval_latency: prepared.retrieval_latency,
                handler_overhead,
                key_service_requests: u32::try_from(
                    app.cipher.key_service_calls().saturating_sub(key_calls_before),
                )
                .unwrap_or(u32::MAX),
                history_items_skipped: history.skipped,
            })
            .await;
        tracing::info!(
            request_id,
            conversation_id = %conv,
            model = %answer.model,
            status = answer.status.as_str(),
            duration_ms = millis(total),
            model_latency_ms = millis(model_latency),
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            history = history.messages.len(),
            history_skipped = history.skipped,
            "chat turn"
        );

        // 8. Reply.
        ChatResponse {
            conversation_id: conv,
            message_id: assistant.message_id.to_string(),
            reply: assistant.content,
            model: answer.model,
            citations: prepared.citations(),
            usage,
        }
    }
}

/// The history a turn can use, and how many stored items it had to leave out.
#[derive(Default)]
pub(crate) struct History {
    messages: Vec<Message>,
    skipped: u32,
}

/// Loads the history, skipping what cannot be read: one bad item (malformed, tampered, under a
/// key that will not unwrap) must not turn every later turn into a 500. Each skip is logged with
/// the item's key and the kind of error, never content, and counted in the turn's metrics.
async fn load_history(
    app: &ChatApp,
    conversation_id: &ConversationId,
    request_id: &str,
) -> Result<History, ApiError> {
    let stored = app.store.recent(conversation_id, app.settings.history_length).await.map_err(|e| {
        tracing::error!(request_id, conversation_id = %conversation_id, error = %e, "could not load history");
        ApiError::internal()
    })?;
    let mut history = History { messages: Vec::with_capacity(stored.messages.len()), skipped: 0 };
    for item in &stored.skipped {
        history.skipped += 1;
        let sort_key = item.sort_key.as_deref().unwrap_or("(not a string)");
        tracing::warn!(request_id, conversation_id = %conversation_id, sort_key, error = %item.reason, "skipped a malformed history item");
    }
    for s in stored.messages {
        let sort_key = s.sort_key.clone();
        match open(app, s).await {
            Ok(m) => history.messages.push(m),
            Err(e) => {
                history.skipped += 1;
                tracing::warn!(request_id, conversation_id = %conversation_id, sort_key = %sort_key, error = %e, "skipped a history item that did not open");
            }
        }
    }
    Ok(history)
}

/// Decrypts one stored message.
pub async fn open(app: &ChatApp, s: SealedMessage) -> Result<Message, OpenError> {
    open_with(app.cipher.as_ref(), s).await
}

/// Decrypts one stored message with `cipher`; `opsctl export` uses it outside a chat turn.
pub async fn open_with(cipher: &dyn Cipher, s: SealedMessage) -> Result<Message, OpenError> {
    let aad = s.aad();
    let sealed = Sealed { blob: s.content, wrapped_key: s.wrapped_key };
    let plain = cipher.open(&sealed, &aad).await.map_err(OpenError::Cipher)?;
    let content = String::from_utf8(plain.to_vec()).map_err(|_| OpenError::NotUtf8)?;
    let citations = match &s.citations {
        None => Vec::new(),
        Some(sealed) => {
            let aad = citations_aad(&s.conversation_id, &s.sort_key, &s.message_id);
            let plain = cipher.open(sealed, &aad).await.map_err(OpenError::Cipher)?;
            serde_json::from_slice(&plain).map_err(|_| OpenError::Citations)?
        }
    };
    Ok(Message {
        conversation_id: s.conversation_id,
        message_id: s.message_id,
        sort_key: s.sort_key,
        role: s.role,
        content,
        model: s.model,
        usage: s.usage,
        status: s.status,
        citations,
    })
}

/// Opens a conversation's sealed title.
pub async fn open_title(
    cipher: &dyn Cipher,
    conversation: &ConversationId,
    sealed: &Sealed,
) -> Result<String, OpenError> {
    let plain = cipher.open(sealed, &title_aad(conversation)).await.map_err(OpenError::Cipher)?;
    String::from_utf8(plain.to_vec()).map_err(|_| OpenError::NotUtf8)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Cipher(crate::ports::CipherError),
    #[error("decrypted content is not UTF-8")]
    NotUtf8,
    #[error("the decrypted citations are not a list of citations")]
    Citations,
}

#[derive(Debug, thiserror::Error)]
enum PersistError {
    #[error(transparent)]
    Cipher(#[from] crate::ports::CipherError),
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    #[error("could not encode the citations: {0}")]
    Encode(String),
}

/// Seals and stores a message, updating its conversation's listing entry in the same write;
/// `title` starts the entry of a new conversation.
async fn persist(app: &ChatApp, m: &Message, title: Option<&str>) -> Result<(), PersistError> {
    let sealed = app.cipher.seal(m.content.as_bytes(), &m.aad()).await?;
    let citations = match m.citations.as_slice() {
        [] => None,
        cited => {
            let json = serde_json::to_vec(cited).map_err(|e| PersistError::Encode(e.to_string()))?;
            let aad = citations_aad(&m.conversation_id, &m.sort_key, &m.message_id);
            Some(app.cipher.seal(&json, &aad).await?)
        }
    };
    let title = match title {
        Some(t) => Some(app.cipher.seal(title_from(t).as_bytes(), &title_aad(&m.conversation_id)).await?),
        None => None,
    };
    let message = SealedMessage {
        conversation_id: m.conversation_id,
        message_id: m.message_id,
        sort_key: m.sort_key.clone(),
        role: m.role,
        content: sealed.blob,
        wrapped_key: sealed.wrapped_key,
        model: m.model.clone(),
        usage: m.usage,
        status: m.status,
        citations,
    };
    app.store.append_listed(&message, &ListingChange { owner: DEFAULT_OWNER.to_owned(), title }).await?;
    Ok(())
}

async fn retrieve(app: &ChatApp, query: &str, request_id: &str) -> (ContextSlot, Option<Duration>) {
    let Some(retriever) = &app.retriever else {
        return (ContextSlot::Disabled, None);
    };
    let t = Instant::now();
    let result = retriever.retrieve(query, app.settings.retrieval_k).await;
    let elapsed = t.elapsed();
    match result {
        Ok(chunks) => (ContextSlot::Retrieved(chunks), Some(elapsed)),
        Err(e) => {
            tracing::warn!(request_id, error = %e, "retrieval failed; answering without documents");
            (ContextSlot::Unavailable, Some(elapsed))
        }
    }
}

fn retry_secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)
}

pub(crate) fn model_error(e: &ModelError) -> ApiError {
    match e {
        ModelError::Throttled { retry_after } => ApiError::rate_limited(retry_secs(*retry_after)),
        ModelError::Unavailable { retry_after, .. } => ApiError::model_unavailable(retry_secs(*retry_after)),
        ModelError::Failed { .. } => ApiError::model_failed(30),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
