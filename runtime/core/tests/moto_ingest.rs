//! Ingestion over real S3 wire calls (moto) into the persistent local index: three documents,
//! one re-uploaded with new content, one deleted. The index must then hold exactly the chunks of
//! the two current versions, and keep them across a reopen.

mod support;

use support::chunks::expected;

use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use chatbot_core::aws::s3::S3Documents;
use chatbot_core::domain::document_event::parse_event;
use chatbot_core::fakes::RecordingMetrics;
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, Outcome, handle_events};
use chatbot_core::local::hashing::HashingEmbedder;
use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use chatbot_core::ports::{DocumentSource, RagError, VectorIndex};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::moto::Moto;

const DIMS: usize = 256;

fn record(name: &str, encoded_key: &str) -> Value {
    json!({"eventSource": "aws:s3", "eventName": name,
        "s3": {"bucket": {"name": "docs-bucket"}, "object": {"key": encoded_key}}})
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[tokio::test]
async fn s3_documents_are_ingested_replaced_and_removed() {
    let sdk = Moto::shared().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = format!("docs-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.expect("create the documents bucket");
    let put = |key: &'static str, body: Vec<u8>| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move { s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send().await.unwrap() }
    };

    let cv_v1 = b"# Jane Doe\n\n## Skills\n\nRust, Go and Python.\n".to_vec();
    let notes = "Meeting notes. ".repeat(300).into_bytes();
    let paper = support::pdf::sample_pdf(&[&["A paper about gardening"], &["Tomatoes need sun."]]);
    put("docs/cv.md", cv_v1.clone()).await;
    put("docs/notes 2026.txt", notes.clone()).await;
    put("docs/papers/été.pdf", paper.clone()).await;

    let path = std::env::temp_dir().join(format!("opsctl-moto-ingest-{}.sqlite", uuid::Uuid::new_v4()));
    let _cleanup = TempFile(path.clone());
    let index = Arc::new(SqliteVectorIndex::open(&path, DIMS).unwrap());
    let app = IngestApp {
        documents: Arc::new(S3Documents::new(s3.clone(), &bucket, 1024 * 1024)),
        embedder: Arc::new(HashingEmbedder::new(DIMS)),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
    };

    let created = json!({"Records": [
        record("ObjectCreated:Put", "docs/cv.md"),
        record("ObjectCreated:Put", "docs/notes+2026.txt"),
        record("ObjectCreated:CompleteMultipartUpload", "docs/papers/%C3%A9t%C3%A9.pdf"),
    ]});
    let reports = handle_events(&app, &parse_event(&created).unwrap()).await;
    for r in &reports {
        assert!(matches!(r.result, Ok(Outcome::Indexed { .. })), "{r:?}");
    }
    assert_eq!(
        support::chunks::indexed(index.as_ref(), DIMS).await,
        expected(&[("docs/cv.md", &cv_v1), ("docs/notes 2026.txt", &notes), ("docs/papers/été.pdf", &paper)])
    );

    // A changed résumé, the paper deleted, and the notes' event delivered twice.
    let cv_v2 = b"# Jane Doe\n\n## Skills\n\nRust, Go, Python and TypeScript.\n\n## Work\n\nAcme.\n".to_vec();
    put("docs/cv.md", cv_v2.clone()).await;
    s3.delete_object().bucket(&bucket).key("docs/papers/été.pdf").send().await.unwrap();
    let changed = json!({"Records": [
        record("ObjectCreated:Put", "docs/cv.md"),
        record("ObjectRemoved:Delete", "docs/papers/%C3%A9t%C3%A9.pdf"),
        record("ObjectCreated:Put", "docs/notes+2026.txt"),
    ]});
    let reports = handle_events(&app, &parse_event(&changed).unwrap()).await;
    assert!(matches!(reports[0].result, Ok(Outcome::Indexed { .. })), "{reports:?}");
    assert!(matches!(reports[1].result, Ok(Outcome::Removed)), "{reports:?}");
    assert!(matches!(reports[2].result, Ok(Outcome::Unchanged)), "{reports:?}");

    let want = expected(&[("docs/cv.md", &cv_v2), ("docs/notes 2026.txt", &notes)]);
    assert_eq!(support::chunks::indexed(index.as_ref(), DIMS).await, want);
    let sha: String = Sha256::digest(&cv_v2).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(index.indexed_sha256("docs/cv.md").await.unwrap(), Some(sha));
    assert_eq!(index.indexed_sha256("docs/papers/été.pdf").await.unwrap(), None);

    // Durable: a fresh process sees the same index.
    drop(app);
    drop(index);
    let reopened = SqliteVectorIndex::open(&path, DIMS).unwrap();
    assert_eq!(support::chunks::indexed(&reopened, DIMS).await, want);
}

#[tokio::test]
async fn s3_objects_over_the_limit_or_gone_are_rejected_not_retried() {
    let sdk = Moto::shared().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = format!("docs-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("docs/big.txt")
        .body(ByteStream::from(vec![b'a'; 2048]))
        .send()
        .await
        .unwrap();
    let docs = S3Documents::new(s3, &bucket, 1024);
    match docs.get("docs/big.txt").await {
        Err(RagError::Rejected(reason)) => assert!(reason.contains("over the 1024-byte limit"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    match docs.get("docs/missing.md").await {
        Err(RagError::Rejected(reason)) => assert!(reason.contains("no longer exists"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}
