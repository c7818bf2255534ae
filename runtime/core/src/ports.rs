//! The ports: what the handlers need from the outside world, as traits, so the handlers run
//! unchanged against AWS, the local target and the tests.
//!
//! Each trait is small, `Send + Sync`, and has an AWS adapter in [`crate::aws`] and an in-memory
//! double in `crate::fakes` (built for tests and the `test-util` feature only).

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::domain::api::Usage;
use crate::domain::message::{ConversationId, SealedMessage, SortKey};
use crate::domain::prompt::{Prompt, RetrievedChunk};

mod documents;
pub use documents::*;

// ---------------------------------------------------------------------------------------------
// Conversations

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the conversation store is throttling requests")]
    Throttled,
    #[error("the conversation store failed: {0}")]
    Unavailable(String),
    #[error("a stored message is malformed: {0}")]
    Corrupt(String),
    /// A conditional write found another item (or another request's record) in its place.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// A page cursor that this store did not hand out.
    #[error("the cursor is not one this API handed out")]
    BadCursor,
}

/// A stored item of a conversation that could not be read as a message, named without content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedItem {
    /// The item's sort key, when it is a string.
    pub sort_key: Option<String>,
    /// Which attribute is missing or malformed; never any attribute's value.
    pub reason: String,
}

/// The newest items of a conversation: the messages, oldest first, and the items skipped
/// because they were malformed, so one bad item cannot break every later turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    pub messages: Vec<SealedMessage>,
    pub skipped: Vec<SkippedItem>,
}

/// Whom a conversation belongs to. One owner today; the listing is keyed by owner so that more
/// can come without moving a message.
pub const DEFAULT_OWNER: &str = "default";

/// A conversation's entry in the listing, beside its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    pub conversation_id: ConversationId,
    pub owner: String,
    /// The title, sealed like a message (see `domain::message::title_aad`); `None` for a
    /// conversation whose first message was stored before titles existed.
    pub title: Option<Sealed>,
    /// The times of its first and newest messages, as their sort keys write them.
    pub created: String,
    pub updated: String,
    pub message_count: u32,
}

/// What storing a message changes in its conversation's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingChange {
    pub owner: String,
    /// With the conversation's first message: its title. An entry keeps its first title.
    pub title: Option<Sealed>,
}

/// One page of a listing, and where the next one starts (`None` on the last page). A cursor is
/// opaque to the caller; a malformed or foreign one is [`StoreError::BadCursor`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The newest `limit` messages of a conversation, in one query.
    async fn recent(&self, conversation: &ConversationId, limit: usize) -> Result<History, StoreError>;

    /// Stores one message; never overwrites an existing one. Storing the very message that is
    /// already there (same key, same message id: a retried write that had landed) succeeds.
    async fn append(&self, message: &SealedMessage) -> Result<(), StoreError>;

    /// Stores one message as [`append`](Self::append) does and, in the same atomic write,
    /// creates or updates its conversation's listing entry: newest time, one more message.
    async fn append_listed(&self, message: &SealedMessage, change: &ListingChange) -> Result<(), StoreError>;

    /// `owner`'s conversations, the most recently updated first, from an index: never a Scan.
    async fn list(
        &self,
        owner: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ListingEntry>, StoreError>;

    /// One conversation's entry.
    async fn listing(&self, conversation: &ConversationId) -> Result<Option<ListingEntry>, StoreError>;

    /// A conversation's messages, oldest first, a page at a time. Unreadable items are reported
    /// in `skipped` of the page they fall in.
    async fn messages(
        &self,
        conversation: &ConversationId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(History, Option<String>), StoreError>;

    /// Replaces the title; `false` when the conversation has no entry.
    async fn rename(&self, conversation: &ConversationId, title: &Sealed) -> Result<bool, StoreError>;

    /// Deletes every item of the conversation, its entry last, so a failure part way leaves it
    /// listed and a repeat finishes the job. Deleting what is not there succeeds.
    async fn delete(&self, conversation: &ConversationId) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Idempotency records, beside the conversations in the same table

/// Where an idempotency key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// A request is answering under the key.
    Pending,
    /// The request that held it failed; a retry may take over at once.
    Released,
    /// Answered: the response, sealed.
    Complete(Sealed),
}

/// What one `Idempotency-Key` has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The SHA-256 of the request the key was first used with.
    pub request_sha256: String,
    /// A random token of the request holding the record: each write is conditional on it.
    pub attempt: String,
    pub state: IdempotencyState,
    /// When the holder claimed or took over the record, Unix seconds.
    pub started_at: i64,
    /// The turn's user message, once stored: a takeover answers it instead of storing it again.
    pub user_message: Option<(ConversationId, SortKey)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was new (or its record had expired): the caller now holds it.
    Claimed,
    /// The key is in use: its record.
    Existing(IdempotencyRecord),
}

/// Records keyed by the SHA-256 of an idempotency key (`key` below), kept for the retention of
/// the conversations. Every write but the claim is conditional on the caller's `attempt`, and
/// fails with [`StoreError::Conflict`] once another request took the record over.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Creates a pending record held by `attempt`, unless an unexpired one exists.
    async fn claim(
        &self,
        key: &str,
        request_sha256: &str,
        attempt: &str,
        now: i64,
    ) -> Result<Claim, StoreError>;
    /// Moves a stale or released record from `previous` to `attempt`; `false` when another
    /// request took it first.
    async fn take_over(&self, key: &str, previous: &str, attempt: &str, now: i64)
    -> Result<bool, StoreError>;
    /// Notes the stored user message.
    async fn user_message_stored(
        &self,
        key: &str,
        attempt: &str,
        conversation: &ConversationId,
        sort_key: &SortKey,
    ) -> Result<(), StoreError>;
    /// Lets a retry take over at once: the turn failed.
    async fn release(&self, key: &str, attempt: &str) -> Result<(), StoreError>;
    /// Stores the sealed response.
    async fn complete(&self, key: &str, attempt: &str, response: &Sealed) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------------------------
// One-time sign-in codes, beside the conversations in the same table on AWS

/// The codes of one-time sign-in links (`opsctl open`), stored only as their SHA-256 (lower-case
/// hex), so a copy of the store signs nobody in.
#[async_trait]
pub trait SignInCodes: Send + Sync {
    /// Stores a new code's hash, good until `expires_at` (Unix seconds). A hash already stored
    /// is a [`StoreError::Conflict`]: a code is never handed out twice.
    async fn mint(&self, code_sha256: &str, expires_at: u64) -> Result<(), StoreError>;
    /// Takes the code: `true` at most once, and only before its expiry (`now` < `expires_at`).
    /// A used, expired or unknown code is `false`.
    async fn redeem(&self, code_sha256: &str, now: u64) -> Result<bool, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Encryption

/// An encrypted blob and the wrapped data key that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub blob: Vec<u8>,
    pub wrapped_key: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum CipherError {
    #[error("the key service refused to {operation} a data key: {reason}")]
    KeyService { operation: &'static str, reason: String },
    #[error(
        "message content failed authentication: it was altered, or it belongs to another item \
         (its conversation, key, message id, role, model or token counts differ)"
    )]
    Authentication,
    #[error("malformed encrypted blob: {0}")]
    Malformed(&'static str),
}

pub type KeyBytes = Zeroizing<[u8; 32]>;

/// A fresh data key: its plaintext, and the same key wrapped by the master key.
pub struct DataKey {
    pub plaintext: KeyBytes,
    pub wrapped: Vec<u8>,
}

/// The key service behind the envelope cipher: KMS in AWS, a local keyring in tests.
#[async_trait]
pub trait DataKeyProvider: Send + Sync {
    async fn generate(&self) -> Result<DataKey, CipherError>;
    async fn unwrap(&self, wrapped: &[u8]) -> Result<KeyBytes, CipherError>;
}

#[async_trait]
pub trait Cipher: Send + Sync {
    /// Encrypts `plaintext`, binding it to `aad`.
    async fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CipherError>;
    /// Decrypts a blob sealed with the same `aad`.
    async fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError>;
    /// Calls made to the key service since start, for the metrics; 0 for a cipher without one.
    fn key_service_calls(&self) -> u64 {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// The chat model

#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    pub text: String,
    /// The model that answered, returned to the caller in `model`.
    pub model: String,
    pub usage: Usage,
}

#[derive(Debug, Clone, Error, PartialEq)]
pub enum ModelError {
    /// The provider is rate limiting us; the API answers 429.
    #[error("the model is throttled")]
    Throttled { retry_after: Duration },
    /// A transient failure; the API answers 503.
    #[error("the model is temporarily unavailable: {reason}")]
    Unavailable { retry_after: Duration, reason: String },
    /// A failure the operator must fix (access, model id, bad request); the API answers 502.
    #[error("the model call failed: {reason}")]
    Failed { reason: String },
}

/// One event of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    /// The next piece of the reply's text, as the model produced it.
    Delta(String),
    /// The reply is complete; nothing follows.
    End {
        /// The model that answered.
        model: String,
        /// Why the model stopped, as the provider says it (`end_turn`, `max_tokens`, ...).
        stop_reason: String,
        usage: Usage,
    },
}

/// A reply as it is generated. Dropping the stream stops the generation: the adapters close
/// the connection to the provider, which stops billing tokens.
pub type ModelStream = futures_core::stream::BoxStream<'static, Result<ModelEvent, ModelError>>;

/// What a model that cannot stream says it stopped for.
pub const STOP_END_TURN: &str = "end_turn";

#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The configured model id, for logs and metrics.
    fn id(&self) -> &str;
    async fn complete(&self, prompt: &Prompt) -> Result<ModelReply, ModelError>;

    /// Starts a streamed reply. An error returned here comes before any text, so the API can
    /// still answer it with a status code; an error inside the stream ends a reply under way.
    /// A model that cannot stream sends its whole reply as one delta.
    async fn stream(&self, prompt: &Prompt) -> Result<ModelStream, ModelError> {
        let reply = self.complete(prompt).await?;
        let end =
            ModelEvent::End { model: reply.model, stop_reason: STOP_END_TURN.to_owned(), usage: reply.usage };
        Ok(Box::pin(futures_util::stream::iter([Ok(ModelEvent::Delta(reply.text)), Ok(end)])))
    }
}

// ---------------------------------------------------------------------------------------------
// RAG: embeddings, vector index, documents, retrieval

#[derive(Debug, Error)]
pub enum RagError {
    #[error("throttled: {0}")]
    Throttled(String),
    /// Worth retrying later: a network or service failure.
    #[error("{0}")]
    Failed(String),
    /// Retrying cannot help: the input itself is refused (too large, gone, unreadable).
    #[error("{0}")]
    Rejected(String),
}

#[async_trait]
pub trait Embedder: Send + Sync {
    fn dimensions(&self) -> usize;
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError>;
}

/// One chunk of a document with its embedding and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedChunk {
    pub source: String,
    pub chunk: u32,
    pub title: String,
    pub sha256: String,
    pub text: String,
    pub vector: Vec<f32>,
    /// When this version was ingested, RFC 3339.
    pub ingested_at: String,
}

/// What the index holds of one document: ingestion skips a re-upload only when the index holds
/// the whole of the same version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexedVersion {
    Absent,
    /// `chunks` chunks, all of the version with this sha256, all written by one re-index.
    Whole {
        sha256: String,
        chunks: usize,
    },
    /// Chunks of several versions or of several re-indexes: one was cut short, or the stale
    /// chunks of the last one are not deleted yet. Re-indexing repairs it.
    Mixed,
}

#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Makes sure the index exists (creating it if missing) and answers; the health check.
    async fn check(&self) -> Result<(), RagError>;
    /// What is indexed of `source`.
    async fn indexed_version(&self, source: &str) -> Result<IndexedVersion, RagError>;
    /// Replaces every chunk of `source` with `chunks`, all of one version and one
    /// `ingested_at`. The new chunks are written before the stale ones are deleted, so a failure
    /// leaves the previous version whole (with some new chunks beside it), never cut short.
    async fn replace_document(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError>;
    async fn delete_document(&self, source: &str) -> Result<(), RagError>;
    /// The `k` nearest chunks, best first.
    async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<RetrievedChunk>, RagError>;
    /// The `k` best chunks for the question `query`, whose embedding is `vector`. An index that
    /// also holds a keyword index ranks by both (the local SQLite index fuses BM25 with the
    /// cosine ranking); the others rank by the vector alone. Each hit's `score` stays its cosine
    /// similarity either way, so a score floor means the same thing for every index.
    async fn hybrid_search(
        &self,
        query: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<RetrievedChunk>, RagError> {
        let _ = query;
        self.search(vector, k).await
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub key: String,
    pub bytes: Vec<u8>,
    /// What identifies this version of the content (the S3 ETag), which the status record names.
    pub version: String,
}

#[async_trait]
pub trait DocumentSource: Send + Sync {
    /// The document's current version; `None` when the key no longer exists.
    async fn get(&self, key: &str) -> Result<Option<Document>, RagError>;
    /// Whether the key exists now. A versioned bucket also reports a delete when an old version
    /// expires, so removals are checked against this before the index forgets a document.
    async fn exists(&self, key: &str) -> Result<bool, RagError>;
    /// The current version's identifier (the ETag), without reading the content; `None` when
    /// the key does not exist.
    async fn version(&self, key: &str) -> Result<Option<String>, RagError>;
}

#[async_trait]
pub trait Retriever: Send + Sync {
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<RetrievedChunk>, RagError>;
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// What one chat turn reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnMetrics {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub model_latency: Duration,
    pub retrieval_latency: Option<Duration>,
    /// Time in the handler outside the model and retrieval calls: validation, storage, crypto.
    pub handler_overhead: Duration,
    /// Calls to the key service (KMS) the turn made: 0 on a warm turn. `opsctl cost` bills them.
    pub key_service_requests: u32,
    /// History items left out of the prompt because they were malformed or did not decrypt.
    pub history_items_skipped: u32,
}

/// What ingesting one document reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IngestMetrics {
    pub chunks: u32,
    /// The vectors' data, keys and metadata written: what S3 Vectors bills PUTs by.
    pub bytes_written: u64,
    pub duration: Duration,
}

#[async_trait]
pub trait MetricsSink: Send + Sync {
    async fn record_turn(&self, metrics: &TurnMetrics);
    /// Only the ingestion Lambda reports these; the other sinks may ignore them.
    async fn record_ingest(&self, _metrics: &IngestMetrics) {}
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("secret `{name}` not found")]
    NotFound { name: String },
    #[error("could not read secret `{name}`: {reason}")]
    Unavailable { name: String, reason: String },
}

/// Where the API token lives (an SSM SecureString in AWS).
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn fetch(&self) -> Result<Zeroizing<String>, SecretError>;
}
