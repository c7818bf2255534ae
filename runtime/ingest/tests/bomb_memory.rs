//! The ingest Lambda's memory while it refuses a compression bomb among good documents. Its own
//! test binary: the figures are this process's peak RSS and its children's, which no other test
//! may share.

mod support;

use std::sync::Arc;
use std::time::Instant;

use chatbot_core::domain::document_event::DocumentEvent;
use chatbot_core::domain::extract::ExtractError;
use chatbot_core::fakes::{ByteCountEmbedder, InMemoryDocuments, InMemoryVectorIndex, RecordingMetrics};
use chatbot_core::handlers::ingest::{
    Extraction, IngestApp, IngestError, IngestSettings, Outcome, handle_events, lambda_result,
};
use chatbot_core::ports::VectorIndex;
use nix::sys::resource::{UsageWho, getrusage};
use support::{bomb, lambda_worker, pdf};
use test_support::proc_status::status_kib;

/// The ingest function's MemorySize in templates/ai.yaml.
const LAMBDA_MIB: u64 = 1024;

#[tokio::test]
async fn a_bomb_among_good_documents_is_rejected_once_within_the_lambdas_memory() {
    let bomb = bomb();
    let docs = Arc::new(InMemoryDocuments::default());
    docs.put("docs/cv.md", b"# CV\n\nI write Rust.");
    docs.put("docs/bomb.pdf", &bomb);
    docs.put("docs/good.pdf", &pdf::sample_pdf(&[&["Jane Doe", "Languages: Rust, Go"]]));
    let index = Arc::new(InMemoryVectorIndex::default());
    let app = IngestApp {
        documents: docs,
        embedder: Arc::new(ByteCountEmbedder::new(32)),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings {
            extraction: Extraction::Isolated(lambda_worker()),
            ..IngestSettings::default()
        },
        statuses: None,
    };
    let events = ["docs/cv.md", "docs/bomb.pdf", "docs/good.pdf"]
        .map(|key| DocumentEvent::Upserted { key: key.into() });
    let started = Instant::now();
    let reports = handle_events(&app, &events).await;
    let elapsed = started.elapsed();
    let parent_mib = status_kib("VmHWM:") / 1024;
    let worker_mib = u64::try_from(getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss()).unwrap() / 1024;
    eprintln!(
        "bomb of {} bytes among 2 good documents: {elapsed:.1?}; peak RSS: this process {parent_mib} MiB, \
         the largest worker {worker_mib} MiB",
        bomb.len()
    );

    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    assert!(matches!(reports[2].result, Ok(Outcome::Indexed { chunks: 1 })), "{reports:?}");
    let refused = reports[1].result.as_ref().expect_err("the bomb is refused");
    assert!(
        matches!(refused, IngestError::Unreadable(ExtractError::NeedsTooMuchMemory { limit_mib: 512 })),
        "{refused:?}"
    );
    let result = lambda_result(&reports).expect("a refused bomb is not retried");
    assert_eq!(
        result["documents"][1]["rejected"],
        "the document needs more than 512 MiB of memory to read (a compression bomb?)"
    );
    let hits = index.search(&[0.0; 32], 100).await.unwrap();
    assert_eq!(hits.len(), 2, "the two good documents, one chunk each");

    assert!(worker_mib <= 512, "the worker peaked at {worker_mib} MiB");
    assert!(parent_mib + worker_mib < LAMBDA_MIB / 4 * 3, "{parent_mib} + {worker_mib} MiB");
}
