//! The S3 Vectors adapter's requests against `aws-smithy-mocks`: batch sizes, the metadata
//! document of a chunk, and throttling retried with backoff, then surfaced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3vectors::Client;
use aws_sdk_s3vectors::operation::get_vectors::GetVectorsOutput;
use aws_sdk_s3vectors::operation::put_vectors::PutVectorsOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::{Document, Number};
use chatbot_core::aws::s3vectors::{S3VectorsIndex, retry_config};
use chatbot_core::ports::{IndexedChunk, RagError, VectorIndex};

const DIMS: usize = 4;

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_s3vectors, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1))))
}

fn throttled() -> HttpResponse {
    let body = SdkBody::from(r#"{"message":"Too many requests, slow down"}"#);
    let mut r = HttpResponse::new(StatusCode::try_from(429).unwrap(), body);
    r.headers_mut().insert("x-amzn-errortype", "TooManyRequestsException");
    r.headers_mut().insert("content-type", "application/json");
    r
}

fn chunks(n: usize) -> Vec<IndexedChunk> {
    (0..n)
        .map(|i| IndexedChunk {
            source: "docs/a.md".into(),
            chunk: i as u32,
            title: "A".into(),
            sha256: "f".repeat(64),
            text: format!("text {i}"),
            vector: vec![0.5; DIMS],
            ingested_at: "2026-12-02T06:00:00Z".into(),
        })
        .collect()
}

/// One PutVectors as sent: the index, the number of vectors, the first one's metadata.
type Put = (String, usize, Option<Document>);

/// No manifest yet: the document is new.
fn no_manifest() -> Rule {
    mock!(Client::get_vectors)
        .then_output(|| GetVectorsOutput::builder().set_vectors(Some(vec![])).build().unwrap())
}

#[tokio::test]
async fn writes_are_batched_to_500_and_carry_the_chunk_metadata_as_a_document() {
    let seen: Arc<Mutex<Vec<Put>>> = Arc::default();
    let record = seen.clone();
    let put = mock!(Client::put_vectors).then_compute_output(move |req| {
        let vectors = req.vectors();
        let first = vectors.first().map(|v| v.metadata().clone());
        record.lock().unwrap().push((req.index_name().unwrap_or_default().to_owned(), vectors.len(), first));
        PutVectorsOutput::builder().build()
    });
    let manifest = no_manifest();
    let index = S3VectorsIndex::new(client(&[&manifest, &put]), "b", "chunks", "manifests", DIMS).unwrap();
    index.replace_document("docs/a.md", &chunks(1203)).await.unwrap();

    let seen = seen.lock().unwrap();
    let batches: Vec<(&str, usize)> = seen.iter().map(|(i, n, _)| (i.as_str(), *n)).collect();
    assert_eq!(
        batches,
        [("manifests", 1), ("chunks", 500), ("chunks", 500), ("chunks", 203), ("manifests", 1)],
        "the intent, the chunks, then the manifest that makes them live"
    );
    let Some(Document::Object(meta)) = &seen[1].2 else { panic!("{:?}", seen[1].2) };
    assert_eq!(meta.get("source"), Some(&Document::String("docs/a.md".into())));
    assert_eq!(meta.get("chunk"), Some(&Document::Number(Number::PosInt(0))));
    assert_eq!(meta.get("text"), Some(&Document::String("text 0".into())));
    assert_eq!(meta.get("title"), Some(&Document::String("A".into())));
    assert_eq!(meta.get("sha256"), Some(&Document::String("f".repeat(64))));
    assert!(matches!(meta.get("ingested_at"), Some(Document::String(_))));
    assert_eq!(meta.len(), 6);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_surfaces_as_throttled() {
    let manifest = no_manifest();
    let always = mock!(Client::put_vectors).then_http_response(throttled);
    let index = S3VectorsIndex::new(client(&[&manifest, &always]), "b", "chunks", "manifests", DIMS).unwrap();
    let err = index.replace_document("docs/a.md", &chunks(2)).await.unwrap_err();
    assert!(matches!(&err, RagError::Throttled(m) if m.contains("throttling")), "{err:?}");
    assert_eq!(always.num_calls(), 5, "the first attempt and four retries");

    // Throttled twice, then accepted: the caller never sees it.
    let manifest = no_manifest();
    let flaky = mock!(Client::put_vectors)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| PutVectorsOutput::builder().build())
        .repeatedly()
        .build();
    let index = S3VectorsIndex::new(client(&[&manifest, &flaky]), "b", "chunks", "manifests", DIMS).unwrap();
    index.replace_document("docs/a.md", &chunks(2)).await.expect("retried past the throttling");
    assert_eq!(flaky.num_calls(), 2 + 3);
}
