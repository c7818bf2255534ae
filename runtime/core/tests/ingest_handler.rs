//! The ingestion handler against in-memory fakes: idempotence, replacement, deletion, bad files,
//! throttling and the transient/permanent split that decides whether Lambda retries.

mod support;

use support::chunks::expected;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chatbot_core::domain::document_event::{DocumentEvent, parse_event};
use chatbot_core::fakes::{ByteCountEmbedder, InMemoryDocuments, InMemoryVectorIndex, RecordingMetrics};
use chatbot_core::handlers::ingest::{
    IngestApp, IngestError, IngestSettings, Outcome, RetryPolicy, handle_events,
};
use chatbot_core::ports::{Embedder, RagError};
use serde_json::json;

/// Counts calls, and throttles the first `throttles` of them.
struct FlakyEmbedder {
    inner: ByteCountEmbedder,
    calls: AtomicUsize,
    /// Calls numbered below this are throttled.
    throttle_until: AtomicUsize,
}

#[async_trait]
impl Embedder for FlakyEmbedder {
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.throttle_until.load(Ordering::SeqCst) {
            return Err(RagError::Throttled("ThrottlingException: slow down".into()));
        }
        self.inner.embed(texts).await
    }
}

struct Harness {
    app: IngestApp,
    docs: Arc<InMemoryDocuments>,
    index: Arc<InMemoryVectorIndex>,
    embedder: Arc<FlakyEmbedder>,
}

fn harness(throttles: usize, retry_attempts: u32) -> Harness {
    let docs = Arc::new(InMemoryDocuments::default());
    let index = Arc::new(InMemoryVectorIndex::default());
    let embedder = Arc::new(FlakyEmbedder {
        inner: ByteCountEmbedder::new(32),
        calls: AtomicUsize::new(0),
        throttle_until: AtomicUsize::new(throttles),
    });
    let settings = IngestSettings {
        concurrency: 4,
        retry: RetryPolicy {
            attempts: retry_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        ..IngestSettings::default()
    };
    let app = IngestApp {
        documents: docs.clone(),
        embedder: embedder.clone(),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings,
        statuses: None,
    };
    Harness { app, docs, index, embedder }
}

fn upsert(key: &str) -> DocumentEvent {
    DocumentEvent::Upserted { key: key.into() }
}

#[tokio::test]
async fn ingests_replaces_skips_unchanged_and_removes() {
    let h = harness(0, 3);
    let long = "Rust and Go experience. ".repeat(400);
    h.docs.put("docs/cv.md", b"# CV\n\nI write Rust.");
    h.docs.put("docs/notes.txt", long.as_bytes());
    let reports = handle_events(&h.app, &[upsert("docs/cv.md"), upsert("docs/notes.txt")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    assert!(matches!(reports[1].result, Ok(Outcome::Indexed { chunks }) if chunks > 1), "{reports:?}");
    assert_eq!(
        support::chunks::indexed(h.index.as_ref(), 32).await,
        expected(&[("docs/cv.md", b"# CV\n\nI write Rust."), ("docs/notes.txt", long.as_bytes())])
    );

    // The same bytes again: no embedding call at all.
    let calls = h.embedder.calls.load(Ordering::SeqCst);
    let reports = handle_events(&h.app, &[upsert("docs/cv.md")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Unchanged)));
    assert_eq!(h.embedder.calls.load(Ordering::SeqCst), calls);

    // A new version replaces every old chunk; a removal leaves nothing behind.
    h.docs.put("docs/cv.md", b"# CV\n\nI write Rust and Python now.");
    h.docs.remove("docs/notes.txt");
    let reports = handle_events(
        &h.app,
        &[upsert("docs/cv.md"), DocumentEvent::Removed { key: "docs/notes.txt".into() }],
    )
    .await;
    assert!(matches!(reports[1].result, Ok(Outcome::Removed)));
    assert_eq!(
        support::chunks::indexed(h.index.as_ref(), 32).await,
        expected(&[("docs/cv.md", b"# CV\n\nI write Rust and Python now.")])
    );
}

#[tokio::test]
async fn a_corrupt_pdf_fails_alone_and_the_others_go_on() {
    let h = harness(0, 3);
    h.docs.put("docs/broken.pdf", b"%PDF-1.7\nthis is not really a PDF at all");
    h.docs.put("docs/good.pdf", &support::pdf::sample_pdf(&[&["Jane Doe", "Languages: Rust, Go"]]));
    h.docs.put("docs/photo.jpg", b"\xFF\xD8\xFF");
    let reports = handle_events(
        &h.app,
        &[upsert("docs/broken.pdf"), upsert("docs/photo.jpg"), upsert("docs/good.pdf")],
    )
    .await;
    let broken = reports[0].result.as_ref().unwrap_err();
    assert!(matches!(broken, IngestError::Unreadable(_)), "{broken}");
    assert!(!broken.is_transient(), "retrying a corrupt file cannot help");
    assert!(broken.to_string().contains("could not be read"), "{broken}");
    assert!(reports[1].result.as_ref().unwrap_err().to_string().contains("unsupported document type"));
    assert!(matches!(reports[2].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    let hits = support::chunks::indexed(h.index.as_ref(), 32).await;
    assert_eq!(hits.len(), 1);
    assert!(hits[0].2.contains("Languages: Rust, Go"), "{hits:?}");
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_until_it_clears() {
    let h = harness(3, 5);
    h.docs.put("docs/cv.md", b"# CV\n\nI write Rust.");
    let reports = handle_events(&h.app, &[upsert("docs/cv.md")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    assert_eq!(h.embedder.calls.load(Ordering::SeqCst), 4, "three throttles, then success");
}

#[tokio::test]
async fn throttling_that_never_clears_is_transient_and_keeps_the_old_version() {
    let h = harness(0, 2);
    h.docs.put("docs/cv.md", b"# CV\n\nversion one");
    handle_events(&h.app, &[upsert("docs/cv.md")]).await;
    let before = support::chunks::indexed(h.index.as_ref(), 32).await;

    h.embedder.throttle_until.store(usize::MAX, Ordering::SeqCst);
    h.docs.put("docs/cv.md", b"# CV\n\nversion two");
    let reports = handle_events(&h.app, &[upsert("docs/cv.md")]).await;
    let err = reports[0].result.as_ref().unwrap_err();
    assert!(err.is_transient(), "Lambda must retry this one: {err}");
    assert!(err.to_string().contains("throttled"), "{err}");
    assert_eq!(support::chunks::indexed(h.index.as_ref(), 32).await, before, "a failed update loses nothing");
}

#[tokio::test]
async fn an_upload_of_a_key_deleted_since_removes_its_chunks_and_is_not_retried() {
    let h = harness(0, 3);
    h.docs.put("docs/gone.md", b"# Gone\n\nsoon");
    handle_events(&h.app, &[upsert("docs/gone.md")]).await;
    h.docs.remove("docs/gone.md");
    // The upload's event is delivered again after the delete.
    let reports = handle_events(&h.app, &[upsert("docs/gone.md")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Removed)), "{reports:?}");
    assert!(support::chunks::indexed(h.index.as_ref(), 32).await.is_empty());
}

#[tokio::test]
async fn a_removal_event_for_a_key_that_still_exists_keeps_its_chunks() {
    let h = harness(0, 3);
    h.docs.put("docs/cv.md", b"# CV\n\nversion two");
    handle_events(&h.app, &[upsert("docs/cv.md")]).await;
    let before = support::chunks::indexed(h.index.as_ref(), 32).await;
    // An old version expiring, or a delete delivered after the document was uploaded again.
    let reports = handle_events(&h.app, &[DocumentEvent::Removed { key: "docs/cv.md".into() }]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::StillExists)), "{reports:?}");
    assert_eq!(reports[0].result.as_ref().unwrap().label(), "kept");
    assert_eq!(support::chunks::indexed(h.index.as_ref(), 32).await, before);
}

#[tokio::test]
async fn a_reindex_cut_short_is_repaired_by_the_retry_not_called_unchanged() {
    let h = harness(0, 3);
    h.docs.put("docs/notes.txt", "Old notes. ".repeat(50).as_bytes());
    handle_events(&h.app, &[upsert("docs/notes.txt")]).await;
    let long = "Rust and Go experience. ".repeat(600);
    h.docs.put("docs/notes.txt", long.as_bytes());
    let want = expected(&[("docs/notes.txt", long.as_bytes())]);
    assert!(want.len() > 2);

    h.index.fail_next_replace_after(1);
    let reports = handle_events(&h.app, &[upsert("docs/notes.txt")]).await;
    assert!(reports[0].result.as_ref().is_err_and(|e| e.is_transient()), "{reports:?}");
    let reports = handle_events(&h.app, &[upsert("docs/notes.txt")]).await;
    assert!(
        matches!(reports[0].result, Ok(Outcome::Indexed { chunks }) if chunks == want.len()),
        "{reports:?}"
    );
    assert_eq!(support::chunks::indexed(h.index.as_ref(), 32).await, want);
    assert_eq!(h.index.chunks_of("docs/notes.txt").len(), want.len(), "no chunk of the cut-short write left");
}

/// Deletes a document from the source while its chunks are being embedded.
struct DeletingEmbedder {
    inner: ByteCountEmbedder,
    docs: Arc<InMemoryDocuments>,
    key: &'static str,
}

#[async_trait]
impl Embedder for DeletingEmbedder {
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        self.docs.remove(self.key);
        self.inner.embed(texts).await
    }
}

#[tokio::test]
async fn a_delete_that_lands_while_a_version_is_embedded_leaves_no_chunks() {
    let docs = Arc::new(InMemoryDocuments::default());
    let index = Arc::new(InMemoryVectorIndex::default());
    docs.put("docs/cv.md", b"# CV\n\nabout to be deleted");
    let embedder =
        DeletingEmbedder { inner: ByteCountEmbedder::new(32), docs: docs.clone(), key: "docs/cv.md" };
    let app = IngestApp {
        documents: docs,
        embedder: Arc::new(embedder),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: None,
    };
    let reports = handle_events(&app, &[upsert("docs/cv.md")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Removed)), "{reports:?}");
    assert!(
        support::chunks::indexed(index.as_ref(), 32).await.is_empty(),
        "the chunks outlived the document"
    );
}

#[tokio::test]
async fn url_encoded_keys_from_events_reach_the_document_source_decoded() {
    let h = harness(0, 3);
    h.docs.put("docs/my résumé 2026.md", b"# Me\n\nRust.");
    let event = json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"object": {"key": "docs/my+r%C3%A9sum%C3%A9+2026.md"}}}]});
    let events = parse_event(&event).unwrap();
    let reports = handle_events(&h.app, &events).await;
    assert_eq!(reports[0].key, "docs/my résumé 2026.md");
    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    assert_eq!(support::chunks::indexed(h.index.as_ref(), 32).await[0].0, "docs/my résumé 2026.md");
}

#[tokio::test]
async fn a_reindex_embeds_an_unchanged_document_again_and_forgets_a_deleted_one() {
    let h = harness(0, 3);
    h.docs.put("docs/cv.md", b"# CV\n\nI write Rust.");
    let reports = handle_events(&h.app, &[upsert("docs/cv.md")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    let calls = h.embedder.calls.load(Ordering::SeqCst);

    let reindex = |key: &str| DocumentEvent::Reindex { key: key.into() };
    let reports = handle_events(&h.app, &[reindex("docs/cv.md"), reindex("docs/gone.md")]).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    assert!(h.embedder.calls.load(Ordering::SeqCst) > calls, "the unchanged document is embedded again");
    assert!(matches!(reports[1].result, Ok(Outcome::Removed)), "{reports:?}");
    assert_eq!(
        support::chunks::indexed(h.index.as_ref(), 32).await,
        expected(&[("docs/cv.md", b"# CV\n\nI write Rust.")])
    );
}
