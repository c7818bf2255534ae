//! Ingestion over real S3 wire calls (moto) into the persistent local index: three documents,
//! one re-uploaded with new content, one deleted. The index must then hold exactly the chunks of
//! the two current versions, and keep them across a reopen.

mod support;

use support::chunks::expected;

use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use chatbot_core::auth::Authenticator;
use chatbot_core::aws::s3::S3Documents;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::document_event::parse_event;
use chatbot_core::fakes::RecordingMetrics;
use chatbot_core::fakes::{InMemoryConversationStore, LocalKeyring};
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, Outcome, handle_events};
use chatbot_core::handlers::retrieve::{DirectRetriever, RetrieveApp, RetrieveSettings};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::local::extractive::ExtractiveModel;
use chatbot_core::local::hashing::HashingEmbedder;
use chatbot_core::local::hashing::LOCAL_SCORE_FLOOR;
use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use chatbot_core::ports::{DocumentSource, Embedder, IndexedVersion, RagError, VectorIndex};
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
        statuses: None,
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
    let sha256: String = Sha256::digest(&cv_v2).iter().map(|b| format!("{b:02x}")).collect();
    let chunks = want.iter().filter(|(source, _, _)| source == "docs/cv.md").count();
    assert_eq!(index.indexed_version("docs/cv.md").await.unwrap(), IndexedVersion::Whole { sha256, chunks });
    assert_eq!(index.indexed_version("docs/papers/été.pdf").await.unwrap(), IndexedVersion::Absent);

    // Durable: a fresh process sees the same index.
    drop(app);
    drop(index);
    let reopened = SqliteVectorIndex::open(&path, DIMS).unwrap();
    assert_eq!(support::chunks::indexed(&reopened, DIMS).await, want);
}

#[tokio::test]
async fn s3_objects_over_the_limit_are_rejected_and_gone_ones_are_absent() {
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
    assert_eq!(docs.get("docs/missing.md").await.unwrap(), None);
    assert!(docs.exists("docs/big.txt").await.unwrap());
    assert!(!docs.exists("docs/missing.md").await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Events that arrive late, twice, or for an old version, against a versioned bucket.

/// A versioned bucket, as the stack makes it, and an ingest app over it and a fresh index.
struct Versioned {
    s3: aws_sdk_s3::Client,
    bucket: String,
    index: Arc<SqliteVectorIndex>,
    app: IngestApp,
    _file: TempFile,
}

async fn versioned(embedder: Arc<dyn Embedder>) -> Versioned {
    let sdk = Moto::shared().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = format!("docs-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(enabled).send().await.unwrap();
    let path = std::env::temp_dir().join(format!("opsctl-moto-versions-{}.sqlite", uuid::Uuid::new_v4()));
    let index = Arc::new(SqliteVectorIndex::open(&path, DIMS).unwrap());
    let app = IngestApp {
        documents: Arc::new(S3Documents::new(s3.clone(), &bucket, 1024 * 1024)),
        embedder,
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: None,
    };
    Versioned { s3, bucket, index, app, _file: TempFile(path) }
}

impl Versioned {
    /// Uploads `body` and returns the new version's id.
    async fn put(&self, key: &str, body: &[u8]) -> String {
        let out = self.s3.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body.to_vec()));
        out.send().await.unwrap().version_id().expect("a versioned bucket names the version").to_owned()
    }

    /// An EventBridge event as S3 sends it, handled; returns the one document's outcome label.
    async fn deliver(&self, detail_type: &str, key: &str, detail: Value) -> String {
        let mut object = json!({"key": key, "sequencer": "0062E99A88DC407460"});
        object.as_object_mut().unwrap().extend(detail["object"].as_object().cloned().unwrap_or_default());
        let mut body = json!({"version": "0", "bucket": {"name": self.bucket}, "object": object,
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012"});
        for (k, v) in detail.as_object().unwrap().iter().filter(|(k, _)| *k != "object") {
            body[k] = v.clone();
        }
        let event = json!({"version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": detail_type,
            "source": "aws.s3", "account": "123456789012", "time": "2026-12-01T10:00:00Z",
            "region": "us-east-1", "resources": [format!("arn:aws:s3:::{}", self.bucket)], "detail": body});
        let reports = handle_events(&self.app, &parse_event(&event).unwrap()).await;
        assert_eq!(reports.len(), 1);
        match &reports[0].result {
            Ok(outcome) => outcome.label().to_owned(),
            Err(e) => panic!("{key}: {e}"),
        }
    }

    /// What a chat turn about `question` cites, through retrieval on this index.
    async fn cited(&self, question: &str) -> Vec<String> {
        let retriever = DirectRetriever::new(RetrieveApp {
            embedder: Arc::new(HashingEmbedder::new(DIMS)),
            index: self.index.clone(),
            settings: RetrieveSettings { score_floor: LOCAL_SCORE_FLOOR },
        });
        let app = ChatApp {
            store: Arc::new(InMemoryConversationStore::new()),
            cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
            model: Arc::new(ExtractiveModel::new()),
            retriever: Some(Arc::new(retriever)),
            metrics: Arc::new(RecordingMetrics::default()),
            auth: Authenticator::Disabled,
            sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
            idempotency: Arc::new(chatbot_core::fakes::InMemoryIdempotencyStore::default()),
            settings: ChatSettings::default(),
            documents: None,
        };
        let req = ApiRequest {
            method: http::Method::POST,
            path: "/chat".into(),
            authorization: None,
            body: bytes::Bytes::from(json!({ "message": question }).to_string()),
            request_id: "versions".into(),
            idempotency_key: None,
            accept: None,
            cookie: None,
            csrf: None,
            accept_encoding: None,
            if_none_match: None,
            query: None,
        };
        let resp = route(&app, &req).await;
        assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(resp.body()));
        let reply: Value = serde_json::from_slice(resp.body()).unwrap();
        reply["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["source"].as_str().unwrap().to_owned())
            .collect()
    }
}

const CV_V1: &[u8] = b"# Jane Doe\n\n## Skills\n\nCOBOL and Fortran.\n";
const CV_V2: &[u8] = b"# Jane Doe\n\n## Skills\n\nRust, Go and Python for distributed systems.\n";

#[tokio::test]
async fn an_old_version_expiring_leaves_the_current_one_indexed_and_cited() {
    let v = versioned(Arc::new(HashingEmbedder::new(DIMS))).await;
    let old = v.put("docs/cv.md", CV_V1).await;
    assert_eq!(v.deliver("Object Created", "docs/cv.md", json!({"reason": "PutObject"})).await, "indexed");
    v.put("docs/cv.md", CV_V2).await;
    assert_eq!(v.deliver("Object Created", "docs/cv.md", json!({"reason": "PutObject"})).await, "indexed");

    // 30 days later the lifecycle rule expires the replaced version, and S3 says so.
    v.s3.delete_object().bucket(&v.bucket).key("docs/cv.md").version_id(&old).send().await.unwrap();
    let expired = json!({"object": {"version-id": old}, "reason": "Lifecycle Expiration",
                         "deletion-type": "Permanently Deleted"});
    assert_eq!(v.deliver("Object Deleted", "docs/cv.md", expired).await, "kept");

    assert_eq!(support::chunks::indexed(v.index.as_ref(), DIMS).await, expected(&[("docs/cv.md", CV_V2)]));
    let cited = v.cited("Which languages for distributed systems: Rust, Go, Python?").await;
    assert_eq!(cited, ["docs/cv.md"], "the current version is still cited");
}

#[tokio::test]
async fn a_delete_delivered_after_the_document_was_uploaded_again_keeps_the_new_version() {
    let v = versioned(Arc::new(HashingEmbedder::new(DIMS))).await;
    v.put("docs/cv.md", CV_V1).await;
    assert_eq!(v.deliver("Object Created", "docs/cv.md", json!({})).await, "indexed");
    // Deleted (a delete marker), then uploaded again; the delete's event arrives last.
    v.s3.delete_object().bucket(&v.bucket).key("docs/cv.md").send().await.unwrap();
    v.put("docs/cv.md", CV_V2).await;
    assert_eq!(v.deliver("Object Created", "docs/cv.md", json!({})).await, "indexed");
    let late = json!({"reason": "DeleteObject", "deletion-type": "Delete Marker Created"});
    assert_eq!(v.deliver("Object Deleted", "docs/cv.md", late.clone()).await, "kept");
    assert_eq!(support::chunks::indexed(v.index.as_ref(), DIMS).await, expected(&[("docs/cv.md", CV_V2)]));

    // A real delete still removes it, and its retry changes nothing.
    v.s3.delete_object().bucket(&v.bucket).key("docs/cv.md").send().await.unwrap();
    assert_eq!(v.deliver("Object Deleted", "docs/cv.md", late.clone()).await, "removed");
    assert_eq!(v.deliver("Object Deleted", "docs/cv.md", late).await, "removed");
    assert!(support::chunks::indexed(v.index.as_ref(), DIMS).await.is_empty());
}

/// Deletes the object from S3 the first time it embeds, as a delete landing mid-ingestion would.
struct DeletingEmbedder {
    inner: HashingEmbedder,
    s3: aws_sdk_s3::Client,
    bucket: std::sync::OnceLock<String>,
}

#[async_trait::async_trait]
impl Embedder for DeletingEmbedder {
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        if let Some(bucket) = self.bucket.get() {
            self.s3.delete_object().bucket(bucket).key("docs/cv.md").send().await.unwrap();
        }
        self.inner.embed(texts).await
    }
}

#[tokio::test]
async fn a_delete_that_lands_while_a_version_is_embedded_is_caught_after_the_write() {
    let sdk = Moto::shared().sdk_config().await;
    let embedder = Arc::new(DeletingEmbedder {
        inner: HashingEmbedder::new(DIMS),
        s3: aws_sdk_s3::Client::new(&sdk),
        bucket: std::sync::OnceLock::new(),
    });
    let v = versioned(embedder.clone()).await;
    embedder.bucket.set(v.bucket.clone()).unwrap();
    v.put("docs/cv.md", CV_V2).await;
    // The delete's own event was handled while the chunks were still being embedded.
    assert_eq!(v.deliver("Object Created", "docs/cv.md", json!({})).await, "removed");
    assert!(
        support::chunks::indexed(v.index.as_ref(), DIMS).await.is_empty(),
        "the chunks outlived the document"
    );
}
