//! Ingestion: an uploaded document becomes embedded chunks in the vector index, and a deleted one
//! leaves it, so answers only ever cite what is in the bucket now.
//!
//! Every document is handled on its own: one that fails is reported and the others go on. A
//! failure is *permanent* when retrying cannot help (an unsupported type, a corrupt or oversized
//! PDF): it is logged with its reason and the index keeps whatever version it had. It is
//! *transient* otherwise (throttling that outlasted our retries, the index or S3 unreachable, the
//! time limit): the Lambda then reports failure, so asynchronous invocation retries the event
//! and, after its retries, the dead-letter queue keeps it. Re-running an event is safe: a document
//! whose every chunk is indexed (same sha256, same chunk count, one re-index) is skipped, and any
//! other replaces its old chunks.
//!
//! Every event is checked against S3 as it is now, because events for one key can arrive late,
//! twice or out of order: a removal deletes the chunks only if the key no longer exists (a
//! versioned bucket also reports a delete when an old version expires), an upload of a key that
//! is gone removes its chunks, and a delete that lands while a version is being embedded is
//! caught by a second check after the write. The ingest function runs one event at a time
//! (reserved concurrency 1), so two events for one key are never handled at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::chunking::{ChunkSize, chunk_text_sized};
use crate::domain::document_event::DocumentEvent;
use crate::domain::extract::{DocumentKind, ExtractError, ExtractLimits, ExtractedText, extract};
use crate::extract_worker::{IsolatedExtraction, extract_isolated};
use crate::ports::{
    DocumentSource, DocumentStatuses, Embedder, IndexedChunk, IndexedVersion, IngestMetrics, MetricsSink,
    RagError, VectorIndex,
};

mod status;
pub use status::Seen;

/// How embedding calls are retried when the model throttles, on top of the SDK's own retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 6, base_delay: Duration::from_millis(250), max_delay: Duration::from_secs(8) }
    }
}

/// Where documents are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Extraction {
    /// On a blocking thread of this process, bounded only by [`ExtractLimits`]' checks: for
    /// documents the caller trusts (tests, benchmarks). A hostile PDF can exhaust this
    /// process's memory or stack, and with it every document of the event.
    #[default]
    InProcess,
    /// In a worker process under memory, CPU and time limits: for documents from outside, as
    /// the ingest Lambda and opsctl's local ingestion read them.
    Isolated(IsolatedExtraction),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Embedding calls in flight at once for one document.
    pub concurrency: usize,
    pub limits: ExtractLimits,
    pub extraction: Extraction,
    /// Time allowed for one document, from download to indexed. Running out is transient (it
    /// may be throttled embedding); an isolated extraction's own deadline, shorter, is not.
    pub document_timeout: Duration,
    pub retry: RetryPolicy,
    /// Titan's default; the local target's MiniLM needs smaller chunks.
    pub chunk_size: ChunkSize,
    /// Embed each chunk after its document's title, so a small chunk ("Vet: Clifton Paws")
    /// still says what it is about; the stored text stays the chunk alone. Off by default (and
    /// on AWS), where chunks are large enough to carry their context.
    pub embed_titles: bool,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            limits: ExtractLimits::default(),
            extraction: Extraction::InProcess,
            document_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            chunk_size: ChunkSize::default(),
            embed_titles: false,
        }
    }
}

pub struct IngestApp {
    pub documents: Arc<dyn DocumentSource>,
    pub embedder: Arc<dyn Embedder>,
    pub index: Arc<dyn VectorIndex>,
    pub metrics: Arc<dyn MetricsSink>,
    pub settings: IngestSettings,
    /// Where each document's indexing status is recorded, for the documents API; `None` records
    /// nothing (the CLI's re-index reads the index itself).
    pub statuses: Option<Arc<dyn DocumentStatuses>>,
}

/// What happened to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Indexed {
        chunks: usize,
    },
    /// The index already holds the whole of this content.
    Unchanged,
    /// The key no longer exists, and neither do its chunks.
    Removed,
    /// A removal event for a key that still exists: an old version expired, or the document was
    /// uploaded again since. Its chunks stay.
    StillExists,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Indexed { .. } => "indexed",
            Self::Unchanged => "unchanged",
            Self::Removed => "removed",
            Self::StillExists => "kept",
        }
    }

    /// Chunks written to the index: 0 unless the document was (re)indexed.
    pub fn chunks(&self) -> usize {
        match self {
            Self::Indexed { chunks } => *chunks,
            _ => 0,
        }
    }
}

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("{0}")]
    Unreadable(#[from] ExtractError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Transient(String),
    #[error("gave up after {0:?}; the document may be too large to ingest in one invocation")]
    TimedOut(Duration),
}

impl IngestError {
    /// Whether a retry of the same event could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::TimedOut(_))
    }
}

impl From<RagError> for IngestError {
    fn from(e: RagError) -> Self {
        match e {
            RagError::Rejected(reason) => Self::Refused(reason),
            RagError::Throttled(reason) => {
                Self::Transient(format!("still throttled after retries: {reason}"))
            }
            RagError::Failed(reason) => Self::Transient(reason),
        }
    }
}

/// The outcome of one event's document.
#[derive(Debug)]
pub struct DocumentReport {
    pub key: String,
    pub result: Result<Outcome, IngestError>,
}

/// Handles every document of an event, each on its own, and reports them all.
pub async fn handle_events(app: &IngestApp, events: &[DocumentEvent]) -> Vec<DocumentReport> {
    let mut reports = Vec::with_capacity(events.len());
    for event in events {
        let started = Instant::now();
        let mut seen = None;
        let (result, bytes_written) = match tokio::time::timeout(
            app.settings.document_timeout,
            handle_one(app, event, &mut seen),
        )
        .await
        {
            Ok(Ok((outcome, bytes))) => (Ok(outcome), bytes),
            Ok(Err(e)) => (Err(e), 0),
            Err(_) => (Err(IngestError::TimedOut(app.settings.document_timeout)), 0),
        };
        let key = event.key();
        let result = status::record(app, key, result, seen).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            // `outcome` and `chunks` are what `opsctl docs put` reads back from the logs on AWS.
            Ok(outcome) => {
                tracing::info!(
                    key,
                    outcome = outcome.label(),
                    chunks = outcome.chunks(),
                    elapsed_ms,
                    "document done"
                )
            }
            Err(e) if e.is_transient() => {
                tracing::error!(key, error = %e, elapsed_ms, "document failed; will be retried")
            }
            Err(e) => {
                tracing::error!(key, error = %e, elapsed_ms, "document rejected; fix it and upload again")
            }
        }
        if let Ok(Outcome::Indexed { chunks }) = &result {
            let chunks = u32::try_from(*chunks).unwrap_or(u32::MAX);
            let metrics = IngestMetrics { chunks, bytes_written, duration: started.elapsed() };
            app.metrics.record_ingest(&metrics).await;
        }
        reports.push(DocumentReport { key: key.to_owned(), result });
    }
    reports
}

/// What the Lambda returns for an event: `Err` (so Lambda retries the event, then dead-letters
/// it) when a retry could help any document; otherwise each document's outcome, rejections
/// included, which are logged and not retried.
pub fn lambda_result(reports: &[DocumentReport]) -> Result<serde_json::Value, String> {
    let retry: Vec<&str> = reports
        .iter()
        .filter(|r| r.result.as_ref().is_err_and(IngestError::is_transient))
        .map(|r| r.key.as_str())
        .collect();
    if !retry.is_empty() {
        return Err(format!("{} document(s) failed and will be retried: {}", retry.len(), retry.join(", ")));
    }
    let documents: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| match &r.result {
            Ok(Outcome::Indexed { chunks }) => serde_json::json!({"key": r.key, "indexed_chunks": chunks}),
            Ok(Outcome::Unchanged) => serde_json::json!({"key": r.key, "unchanged": true}),
            Ok(Outcome::Removed) => serde_json::json!({"key": r.key, "removed": true}),
            Ok(Outcome::StillExists) => serde_json::json!({"key": r.key, "kept": true}),
            Err(e) => serde_json::json!({"key": r.key, "rejected": e.to_string()}),
        })
        .collect();
    Ok(serde_json::json!({ "documents": documents }))
}

/// The outcome, and the bytes written to the index (for `opsctl cost`).
async fn handle_one(
    app: &IngestApp,
    event: &DocumentEvent,
    seen: &mut Option<Seen>,
) -> Result<(Outcome, u64), IngestError> {
    match event {
        DocumentEvent::Upserted { key } => index_document(app, key, false, seen).await,
        DocumentEvent::Reindex { key } => index_document(app, key, true, seen).await,
        // Events arrive late, twice or out of order, and a versioned bucket reports an expired
        // old version as a delete: S3's current state decides, not the event.
        DocumentEvent::Removed { key } if app.documents.exists(key).await? => Ok((Outcome::StillExists, 0)),
        DocumentEvent::Removed { key } => {
            app.index.delete_document(key).await?;
            Ok((Outcome::Removed, 0))
        }
    }
}

/// Reads, extracts, chunks, embeds and indexes the document stored under `key`.
pub async fn ingest_document(app: &IngestApp, key: &str) -> Result<Outcome, IngestError> {
    index_document(app, key, false, &mut None).await.map(|(outcome, _)| outcome)
}

/// With `force` (a re-index: another store, another embedding model) even an unchanged document
/// is embedded and written again. `seen` learns which version was read, and its chunk count.
async fn index_document(
    app: &IngestApp,
    key: &str,
    force: bool,
    seen: &mut Option<Seen>,
) -> Result<(Outcome, u64), IngestError> {
    // Refuse an unsupported type before downloading it.
    if DocumentKind::of(key).is_none() {
        return Err(ExtractError::Unsupported.into());
    }
    let Some(document) = app.documents.get(key).await? else {
        // Deleted before it could be read: nothing of it may stay searchable.
        app.index.delete_document(key).await?;
        return Ok((Outcome::Removed, 0));
    };
    let sha256 = crate::digest::sha256_hex(&document.bytes);
    *seen = Some(Seen { version: document.version.clone(), sha256: sha256.clone(), chunks: None });
    // "Unchanged" means the index holds every chunk this content makes, so the content is
    // chunked before the index is asked: a re-index cut short is repaired, not skipped.
    let extracted = extract_off_thread(key, document.bytes, &app.settings).await?;
    let texts = chunk_text_sized(extracted.kind, &extracted.text, app.settings.chunk_size);
    let whole = IndexedVersion::Whole { sha256: sha256.clone(), chunks: texts.len() };
    if let Some(seen) = seen.as_mut() {
        seen.chunks = Some(texts.len());
    }
    if !force && app.index.indexed_version(key).await? == whole {
        return Ok((Outcome::Unchanged, 0));
    }
    let embedded: Vec<String> = if app.settings.embed_titles {
        texts.iter().map(|t| format!("{}\n{t}", extracted.title)).collect()
    } else {
        texts.clone()
    };
    let vectors =
        embed_all(app.embedder.clone(), &embedded, app.settings.concurrency, app.settings.retry).await?;
    let ingested_at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    let chunks: Vec<IndexedChunk> = texts
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (text, vector))| IndexedChunk {
            source: key.to_owned(),
            chunk: u32::try_from(i).unwrap_or(u32::MAX),
            title: extracted.title.clone(),
            sha256: sha256.clone(),
            text,
            vector,
            ingested_at: ingested_at.clone(),
        })
        .collect();
    app.index.replace_document(key, &chunks).await?;
    // A delete that landed while this version was embedded already had its event handled (or
    // will find the chunks gone): check again, so the chunks do not outlive the document.
    if !app.documents.exists(key).await? {
        app.index.delete_document(key).await?;
        return Ok((Outcome::Removed, 0));
    }
    Ok((Outcome::Indexed { chunks: chunks.len() }, written_bytes(&chunks)))
}

/// What S3 Vectors bills a write by: each vector's data, key and metadata. The key is estimated
/// at 54 bytes, the fixed metadata fields at 200, so this is a close upper bound for either store.
pub fn written_bytes(chunks: &[IndexedChunk]) -> u64 {
    chunks
        .iter()
        .map(|c| (c.vector.len() * 4 + 54 + 200 + c.text.len() + c.title.len() + c.source.len()) as u64)
        .sum()
}

/// PDF parsing is CPU-bound and third-party: it runs on a blocking thread, so it does not stall
/// the runtime, and with [`Extraction::Isolated`] in a worker process, so that a hostile file
/// can exhaust only the worker. A limit the worker hits is the document's permanent failure; a
/// worker that cannot start is a transient one.
async fn extract_off_thread(
    key: &str,
    bytes: Vec<u8>,
    settings: &IngestSettings,
) -> Result<ExtractedText, IngestError> {
    let owned_key = key.to_owned();
    let limits = settings.limits;
    let isolation = match &settings.extraction {
        Extraction::InProcess => {
            return match tokio::task::spawn_blocking(move || extract(&owned_key, &bytes, &limits)).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(ExtractError::ReaderCrashed("it panicked".into()).into()),
            };
        }
        Extraction::Isolated(isolation) => isolation.clone(),
    };
    let run = tokio::task::spawn_blocking(move || extract_isolated(&isolation, &owned_key, bytes, &limits))
        .await
        .map_err(|e| IngestError::Transient(format!("the extraction task failed: {e}")))?
        .map_err(|e| IngestError::Transient(e.to_string()))?;
    let refused = run.result.as_ref().err().map(ToString::to_string);
    tracing::info!(
        key,
        peak_rss_kib = run.peak_rss_kib,
        cpu_ms = u64::try_from(run.cpu.as_millis()).unwrap_or(u64::MAX),
        elapsed_ms = u64::try_from(run.elapsed.as_millis()).unwrap_or(u64::MAX),
        refused = refused.as_deref(),
        "extraction worker done"
    );
    Ok(run.result?)
}

/// Embeds every text, `concurrency` calls at a time, keeping the order. One call per text: that
/// is what Titan takes, and it lets one throttled chunk retry without redoing the others.
pub async fn embed_all(
    embedder: Arc<dyn Embedder>,
    texts: &[String],
    concurrency: usize,
    retry: RetryPolicy,
) -> Result<Vec<Vec<f32>>, RagError> {
    crate::bounded::try_map_ordered(texts.to_vec(), concurrency, move |text| {
        let embedder = embedder.clone();
        async move { embed_with_retry(embedder.as_ref(), text, retry).await }
    })
    .await
}

async fn embed_with_retry(
    embedder: &dyn Embedder,
    text: String,
    retry: RetryPolicy,
) -> Result<Vec<f32>, RagError> {
    let batch = [text];
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match embedder.embed(&batch).await {
            Ok(mut vectors) if vectors.len() == 1 => return Ok(vectors.remove(0)),
            Ok(vectors) => {
                return Err(RagError::Failed(format!(
                    "the embedder returned {} vectors for 1 text",
                    vectors.len()
                )));
            }
            Err(RagError::Throttled(reason)) if attempt < retry.attempts => {
                let delay = backoff(retry, attempt);
                tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, %reason, "embedding throttled; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Exponential backoff with "full jitter": concurrent callers spread out instead of retrying in
/// lockstep against the same quota.
fn backoff(retry: RetryPolicy, attempt: u32) -> Duration {
    let exp = retry.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let cap = exp.min(retry.max_delay);
    let jitter = jitter_fraction();
    cap.mul_f64(0.5 + 0.5 * jitter)
}

fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let retry = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 1..10 {
            let d = backoff(retry, attempt);
            let full = (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} vs {full:?}");
        }
    }

    #[test]
    fn the_lambda_fails_the_event_only_for_transient_failures() {
        let report = |key: &str, result| DocumentReport { key: key.into(), result };
        let ok = lambda_result(&[
            report("docs/a.md", Ok(Outcome::Indexed { chunks: 3 })),
            report("docs/b.jpg", Err(IngestError::Unreadable(ExtractError::Unsupported))),
        ])
        .unwrap();
        assert_eq!(ok["documents"][0]["indexed_chunks"], 3);
        assert!(ok["documents"][1]["rejected"].as_str().unwrap().contains("unsupported"));
        let err = lambda_result(&[
            report("docs/a.md", Ok(Outcome::Unchanged)),
            report("docs/c.pdf", Err(IngestError::Transient("index unreachable".into()))),
        ])
        .unwrap_err();
        assert_eq!(err, "1 document(s) failed and will be retried: docs/c.pdf");
    }

    #[test]
    fn only_transient_failures_are_retried_by_lambda() {
        assert!(IngestError::from(RagError::Failed("net".into())).is_transient());
        assert!(IngestError::from(RagError::Throttled("q".into())).is_transient());
        assert!(!IngestError::from(RagError::Rejected("too big".into())).is_transient());
        assert!(!IngestError::Unreadable(ExtractError::Unsupported).is_transient());
        assert!(IngestError::TimedOut(Duration::from_secs(1)).is_transient());
    }

    #[test]
    fn a_limit_hit_while_reading_is_rejected_once_while_the_document_timeout_is_retried() {
        let report = |key: &str, result| DocumentReport { key: key.into(), result };
        let limits = [
            ExtractError::TookTooLong { seconds: 60 },
            ExtractError::UsedTooMuchCpu { seconds: 20 },
            ExtractError::NeedsTooMuchMemory { limit_mib: 512 },
            ExtractError::NestedTooDeeply,
            ExtractError::StreamTooLarge { limit: 16 << 20 },
            ExtractError::ReaderCrashed("killed by SIGSEGV (a segmentation fault)".into()),
        ];
        for limit in limits {
            let message = limit.to_string();
            let reports = [
                report("docs/good.md", Ok(Outcome::Indexed { chunks: 2 })),
                report("docs/bomb.pdf", Err(IngestError::Unreadable(limit))),
            ];
            let ok = lambda_result(&reports).unwrap_or_else(|e| panic!("{message}: asked for a retry: {e}"));
            assert_eq!(ok["documents"][1]["rejected"], message.as_str());
        }
        let err =
            lambda_result(&[report("docs/slow.pdf", Err(IngestError::TimedOut(Duration::from_secs(120))))])
                .unwrap_err();
        assert_eq!(err, "1 document(s) failed and will be retried: docs/slow.pdf");
    }
}
