//! The S3 Vectors adapter over real wire calls to the emulator (moto with the project's
//! s3vectors patches): round trip and order, a 2,000-chunk document replaced by 3 chunks, delete,
//! metadata over AWS's limits refused before any call, the corpus size, and the signing name.

mod support;

use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_s3vectors::Client;
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, MetadataConfiguration};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chatbot_core::aws::s3vectors::{Corpus, S3VectorsIndex};
use chatbot_core::ports::{IndexedChunk, IndexedVersion, RagError, VectorIndex};
use support::moto::Moto;

const DIMS: usize = 8;

/// Every request's operation path and Authorization header, as sent.
#[derive(Debug, Default, Clone)]
struct Sent(Arc<Mutex<Vec<(String, String)>>>);

impl Sent {
    fn paths(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(p, _)| p.clone()).collect()
    }
}

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "Sent"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
        let auth = req.headers().get("authorization").unwrap_or_default().to_owned();
        let path = req.uri().rsplit('/').next().unwrap_or_default().to_owned();
        self.0.lock().unwrap().push((path, auth));
        Ok(())
    }
}

struct Store {
    client: Client,
    bucket: String,
    index: S3VectorsIndex,
    sent: Sent,
}

async fn store() -> Store {
    let sdk: SdkConfig = Moto::shared().sdk_config().await;
    let sent = Sent::default();
    let conf = aws_sdk_s3vectors::config::Builder::from(&sdk).interceptor(sent.clone()).build();
    let client = Client::from_conf(conf);
    let bucket = format!("vectors-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    client.create_vector_bucket().vector_bucket_name(&bucket).send().await.expect("create the vector bucket");
    let keys = |names: &[&str]| {
        let mut b = MetadataConfiguration::builder();
        for n in names {
            b = b.non_filterable_metadata_keys(*n);
        }
        b.build().unwrap()
    };
    client
        .create_index()
        .vector_bucket_name(&bucket)
        .index_name("chunks")
        .data_type(DataType::Float32)
        .dimension(DIMS as i32)
        .distance_metric(DistanceMetric::Cosine)
        .metadata_configuration(keys(&["text", "title", "source"]))
        .send()
        .await
        .expect("create the chunks index");
    client
        .create_index()
        .vector_bucket_name(&bucket)
        .index_name("manifests")
        .data_type(DataType::Float32)
        .dimension(1)
        .distance_metric(DistanceMetric::Euclidean)
        .metadata_configuration(keys(&["manifest"]))
        .send()
        .await
        .expect("create the manifests index");
    let index = S3VectorsIndex::new(client.clone(), &bucket, "chunks", "manifests", DIMS).unwrap();
    Store { client, bucket, index, sent }
}

impl Store {
    /// Every key in an index, through ListVectors' pages.
    async fn keys(&self, index: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_vectors()
                .vector_bucket_name(&self.bucket)
                .index_name(index)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            keys.extend(out.vectors().iter().map(|v| v.key().to_owned()));
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return keys,
            }
        }
    }
}

fn unit(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = [0.0; DIMS];
    v[axis] = 1.0;
    v[(axis + 1) % DIMS] = tilt;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn chunks(source: &str, n: usize, version: &str, vector: impl Fn(usize) -> Vec<f32>) -> Vec<IndexedChunk> {
    (0..n)
        .map(|i| IndexedChunk {
            source: source.into(),
            chunk: i as u32,
            title: "Title".into(),
            sha256: version.repeat(64 / version.len()),
            text: format!("chunk {i} of {source}"),
            vector: vector(i),
            ingested_at: format!("2026-12-02T06:00:00.{version}Z"),
        })
        .collect()
}

#[tokio::test]
async fn chunks_round_trip_and_search_returns_the_nearest_first_with_cosine_scores() {
    let s = store().await;
    s.index.check().await.expect("both indexes answer with the right dimensions");
    s.index.replace_document("docs/a.md", &chunks("docs/a.md", 2, "a", |i| unit(i, 0.0))).await.unwrap();
    s.index.replace_document("docs/b.md", &chunks("docs/b.md", 1, "b", |_| unit(0, 0.5))).await.unwrap();
    assert_eq!(
        s.index.indexed_version("docs/a.md").await.unwrap(),
        IndexedVersion::Whole { sha256: "a".repeat(64), chunks: 2 }
    );
    assert_eq!(s.index.indexed_version("docs/none.md").await.unwrap(), IndexedVersion::Absent);

    let hits = s.index.search(&unit(0, 0.0), 3).await.unwrap();
    let order: Vec<(&str, u32)> = hits.iter().map(|h| (h.source.as_str(), h.chunk)).collect();
    assert_eq!(order, [("docs/a.md", 0), ("docs/b.md", 0), ("docs/a.md", 1)]);
    assert!((hits[0].score - 1.0).abs() < 1e-5, "identical vectors score 1: {hits:?}");
    let cos_b = 1.0 / (1.0f32 + 0.25).sqrt();
    assert!((hits[1].score - cos_b).abs() < 1e-4, "the score is the cosine similarity: {hits:?}");
    assert!(hits[2].score.abs() < 1e-5, "orthogonal scores 0: {hits:?}");
    assert_eq!(hits[0].text, "chunk 0 of docs/a.md");
    assert_eq!(s.index.search(&unit(0, 0.0), 1).await.unwrap().len(), 1);

    assert_eq!(s.index.corpus().await.unwrap().documents, 2);
    assert_eq!(s.index.corpus().await.unwrap().chunks, 3);

    // Every request was signed for the service `s3vectors`.
    let auth: Vec<String> = s.sent.0.lock().unwrap().iter().map(|(_, a)| a.clone()).collect();
    assert!(!auth.is_empty());
    assert!(auth.iter().all(|a| a.contains("/s3vectors/aws4_request")), "{auth:?}");
}

#[tokio::test]
async fn a_2000_chunk_document_replaced_by_3_chunks_leaves_exactly_3_and_delete_leaves_none() {
    let s = store().await;
    let big = chunks("docs/big.md", 2000, "1", |i| unit(i % DIMS, 0.1));
    s.index.replace_document("docs/big.md", &big).await.unwrap();
    assert_eq!(s.keys("chunks").await.len(), 2000);
    let corpus = s.index.corpus().await.unwrap();
    assert_eq!((corpus.documents, corpus.chunks), (1, 2000));
    assert!(corpus.bytes > 2000 * (DIMS as u64 * 4), "{corpus:?}");
    let puts = s.sent.paths().iter().filter(|p| *p == "PutVectors").count();
    assert_eq!(puts, 2 + 4, "two manifest writes and 2,000 chunks in batches of 500");

    s.index.replace_document("docs/big.md", &chunks("docs/big.md", 3, "2", |i| unit(i, 0.0))).await.unwrap();
    assert_eq!(s.keys("chunks").await.len(), 3, "no stale chunk survives the replace");
    assert_eq!(
        s.index.indexed_version("docs/big.md").await.unwrap(),
        IndexedVersion::Whole { sha256: "2".repeat(64), chunks: 3 }
    );
    assert_eq!(
        s.index.corpus().await.unwrap(),
        Corpus { documents: 1, chunks: 3, ..s.index.corpus().await.unwrap() }
    );

    s.index.delete_document("docs/big.md").await.unwrap();
    assert!(s.keys("chunks").await.is_empty());
    assert!(s.keys("manifests").await.is_empty());
    assert_eq!(s.index.indexed_version("docs/big.md").await.unwrap(), IndexedVersion::Absent);
    s.index.delete_document("docs/big.md").await.expect("deleting twice is fine");
}

#[tokio::test]
async fn metadata_over_the_limit_is_refused_before_any_call() {
    let s = store().await;
    let mut doc = chunks("docs/huge.md", 2, "h", |i| unit(i, 0.0));
    doc[1].text = "x".repeat(41 * 1024);
    let before = s.sent.paths().len();
    let err = s.index.replace_document("docs/huge.md", &doc).await.unwrap_err();
    assert!(
        matches!(&err, RagError::Rejected(m) if m.contains("`text`") && m.contains("chunk 1")),
        "{err:?}"
    );
    assert_eq!(s.sent.paths().len(), before, "nothing was sent");
    assert_eq!(s.index.indexed_version("docs/huge.md").await.unwrap(), IndexedVersion::Absent);
}

#[tokio::test]
async fn the_emulator_enforces_the_limits_the_adapter_checks() {
    let s = store().await;
    // Past the adapter, straight to the service: a filterable field over 2 KB.
    let meta = aws_smithy_types::Document::Object(
        [("note".to_owned(), aws_smithy_types::Document::String("y".repeat(2100)))].into_iter().collect(),
    );
    let vector = aws_sdk_s3vectors::types::PutInputVector::builder()
        .key("k")
        .data(aws_sdk_s3vectors::types::VectorData::Float32(unit(0, 0.0)))
        .metadata(meta)
        .build()
        .unwrap();
    let err = s
        .client
        .put_vectors()
        .vector_bucket_name(&s.bucket)
        .index_name("chunks")
        .vectors(vector)
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    assert!(service.is_validation_exception(), "{service:?}");
}
