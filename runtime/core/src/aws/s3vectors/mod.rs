//! Amazon S3 Vectors as the [`VectorIndex`]: the default vector store, with no minimum charge.
//!
//! Two indexes in one vector bucket: `chunks` (the embeddings, cosine) and `manifests` (one tiny
//! vector per document whose metadata names the keys the document owns: see [`layout`]). A
//! replace writes the manifest's intent, then the new chunks, then the manifest that makes them
//! live, and only then deletes the stale keys, so a failure at any step leaves the previous
//! version whole and every written key named. The ingestion Lambda runs one event at a time
//! (reserved concurrency 1), so two writers never race on one manifest.
//!
//! Throttling (429) and 503s are retried by the SDK's standard retry, exponential backoff with
//! jitter ([`retry_config`]); what outlasts it surfaces as [`RagError::Throttled`]. Validation
//! errors name the field. No error or log line carries document text.

pub mod layout;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3vectors::Client;
use aws_sdk_s3vectors::config::http::HttpResponse;
use aws_sdk_s3vectors::config::retry::RetryConfig;
use aws_sdk_s3vectors::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3vectors::types::{PutInputVector, VectorData};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::domain::prompt::RetrievedChunk;
use crate::ports::{IndexedChunk, IndexedVersion, RagError, VectorIndex};
use layout::{Generation, LiveVersion, MAX_DELETE_KEYS, MAX_PUT_VECTORS, MAX_TOP_K, Manifest};

pub const DEFAULT_CHUNKS_INDEX: &str = "chunks";
pub const DEFAULT_MANIFESTS_INDEX: &str = "manifests";

/// Attempts per call, the first included: a burst of ingestion writes outlasts the SDK's default 3.
const MAX_ATTEMPTS: u32 = 5;

/// The retry the adapter expects its client to have: standard mode retries 429 and 5xx with
/// exponential backoff and full jitter.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_initial_backoff(Duration::from_millis(200))
}

/// How much is indexed, for `opsctl cost`: S3 Vectors bills storage by these bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Corpus {
    pub documents: u64,
    pub chunks: u64,
    pub bytes: u64,
}

pub struct S3VectorsIndex {
    client: Client,
    bucket: String,
    chunks: String,
    manifests: String,
    dimensions: usize,
}

impl S3VectorsIndex {
    /// The client the adapter expects, from the caller's `&SdkConfig`: its region, credentials and
    /// endpoint, with [`retry_config`]. The bound names `SdkConfig` through the SDK's own
    /// conversion, which keeps `aws-types` out of this crate's dependencies.
    pub fn client<C>(sdk: C) -> Client
    where
        aws_sdk_s3vectors::config::Builder: From<C>,
    {
        Client::from_conf(aws_sdk_s3vectors::config::Builder::from(sdk).retry_config(retry_config()).build())
    }

    pub fn new(
        client: Client,
        bucket: &str,
        chunks_index: &str,
        manifests_index: &str,
        dimensions: usize,
    ) -> Result<Self, RagError> {
        if bucket.is_empty() || chunks_index.is_empty() || manifests_index.is_empty() || dimensions == 0 {
            return Err(RagError::Failed(
                "the vector bucket, both index names and the vector dimension must be set".into(),
            ));
        }
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
            chunks: chunks_index.to_owned(),
            manifests: manifests_index.to_owned(),
            dimensions,
        })
    }

    /// Pages through the manifests: one request per 1,000 documents.
    pub async fn corpus(&self) -> Result<Corpus, RagError> {
        let mut corpus = Corpus::default();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_vectors()
                .vector_bucket_name(&self.bucket)
                .index_name(&self.manifests)
                .max_results(layout::MAX_LIST_RESULTS)
                .return_metadata(true)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| rag_error("listing the indexed documents", e))?;
            for v in out.vectors() {
                let Some(meta) = v.metadata() else { continue };
                let live = Manifest::from_metadata(&to_json(meta))?.live;
                if let Some(live) = live {
                    corpus.documents += 1;
                    corpus.chunks += u64::from(live.keys.chunks);
                    corpus.bytes += live.bytes;
                }
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(corpus),
            }
        }
    }

    async fn manifest(&self, source: &str) -> Result<Option<Manifest>, RagError> {
        let doc = layout::document_id(source);
        let out = self
            .client
            .get_vectors()
            .vector_bucket_name(&self.bucket)
            .index_name(&self.manifests)
            .keys(&doc)
            .return_metadata(true)
            .send()
            .await
            .map_err(|e| rag_error(&format!("reading the manifest of {source}"), e))?;
        let Some(found) = out.vectors().iter().find(|v| v.key() == doc) else { return Ok(None) };
        let meta = found.metadata().map(to_json).unwrap_or(Value::Null);
        Manifest::from_metadata(&meta).map(Some)
    }

    async fn write_manifest(&self, manifest: &Manifest) -> Result<(), RagError> {
        let metadata = manifest.to_metadata()?;
        layout::check_metadata(
            &format!("the manifest of {}", manifest.source),
            &metadata,
            &[layout::MANIFEST_KEY],
        )?;
        let vector = PutInputVector::builder()
            .key(layout::document_id(&manifest.source))
            .data(VectorData::Float32(vec![1.0]))
            .metadata(to_document(&metadata))
            .build()
            .map_err(|e| RagError::Failed(format!("building the manifest of {}: {e}", manifest.source)))?;
        self.client
            .put_vectors()
            .vector_bucket_name(&self.bucket)
            .index_name(&self.manifests)
            .vectors(vector)
            .send()
            .await
            .map_err(|e| rag_error(&format!("writing the manifest of {}", manifest.source), e))?;
        Ok(())
    }

    async fn delete_keys(&self, source: &str, keys: Vec<String>) -> Result<(), RagError> {
        for batch in keys.chunks(MAX_DELETE_KEYS) {
            self.client
                .delete_vectors()
                .vector_bucket_name(&self.bucket)
                .index_name(&self.chunks)
                .set_keys(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| rag_error(&format!("deleting chunks of {source}"), e))?;
        }
        Ok(())
    }

    /// Deletes the vectors of every pending generation, then records that they are gone.
    async fn sweep(&self, manifest: &mut Manifest) -> Result<(), RagError> {
        if manifest.pending.is_empty() {
            return Ok(());
        }
        let doc = layout::document_id(&manifest.source);
        let keys: Vec<String> = manifest.pending.iter().flat_map(|g| g.keys(&doc)).collect();
        self.delete_keys(&manifest.source, keys).await?;
        manifest.pending.clear();
        self.write_manifest(manifest).await
    }

    fn check_chunks(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError> {
        let first = chunks.first();
        for c in chunks {
            if c.source != source {
                return Err(RagError::Failed(format!(
                    "chunk {} of {} is not part of {source}",
                    c.chunk, c.source
                )));
            }
            if c.vector.len() != self.dimensions {
                return Err(RagError::Failed(format!(
                    "chunk {} of {source} has {} dimensions but index {} holds {}",
                    c.chunk,
                    c.vector.len(),
                    self.chunks,
                    self.dimensions
                )));
            }
            if first.is_some_and(|f| f.ingested_at != c.ingested_at || f.sha256 != c.sha256) {
                return Err(RagError::Failed(format!(
                    "chunk {} of {source} belongs to another re-index",
                    c.chunk
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl VectorIndex for S3VectorsIndex {
    /// Both indexes answer, and the chunks index holds this embedding's dimension: the templates
    /// create them, so a missing one is a deployment fault, not something to create here.
    async fn check(&self) -> Result<(), RagError> {
        for (index, want) in [(&self.chunks, self.dimensions), (&self.manifests, 1)] {
            let out = self
                .client
                .get_index()
                .vector_bucket_name(&self.bucket)
                .index_name(index)
                .send()
                .await
                .map_err(|e| {
                    rag_error(&format!("checking index {index} of vector bucket {}", self.bucket), e)
                })?;
            let dimension = out.index().map(|i| i.dimension());
            if dimension != Some(want as i32) {
                return Err(RagError::Failed(format!(
                    "index {index} of vector bucket {} holds {} dimensions, not {want}: the embedding \
                     dimension changed; switch stores or recreate the index, then run `opsctl docs reindex --all`",
                    self.bucket,
                    dimension.map_or("unknown".into(), |d| d.to_string())
                )));
            }
        }
        Ok(())
    }

    async fn indexed_version(&self, source: &str) -> Result<IndexedVersion, RagError> {
        Ok(self.manifest(source).await?.map_or(IndexedVersion::Absent, |m| m.version()))
    }

    async fn replace_document(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError> {
        self.check_chunks(source, chunks)?;
        let Some(first) = chunks.first() else {
            return self.delete_document(source).await;
        };
        let doc = layout::document_id(source);
        let generation = layout::new_generation();
        // Every vector is built, and its metadata checked, before the first write.
        let mut vectors = Vec::with_capacity(chunks.len());
        let mut bytes = 0u64;
        for c in chunks {
            let v = layout::chunk_vector(&doc, &generation, c)?;
            bytes += v.bytes;
            let put = PutInputVector::builder()
                .key(v.key)
                .data(VectorData::Float32(c.vector.clone()))
                .metadata(to_document(&v.metadata))
                .build()
                .map_err(|e| RagError::Failed(format!("building chunk {} of {source}: {e}", c.chunk)))?;
            vectors.push(put);
        }
        let count = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        let mut manifest = self.manifest(source).await?.unwrap_or_else(|| Manifest::empty(source));
        let written = Generation { generation, chunks: count };
        // The intent first: if the writes below are cut short, the next run knows these keys.
        manifest.pending.push(written.clone());
        self.write_manifest(&manifest).await?;
        for batch in vectors.chunks(MAX_PUT_VECTORS) {
            self.client
                .put_vectors()
                .vector_bucket_name(&self.bucket)
                .index_name(&self.chunks)
                .set_vectors(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| rag_error(&format!("writing chunks of {source}"), e))?;
        }
        manifest.pending.retain(|g| g != &written);
        let replaced = manifest.live.replace(LiveVersion {
            keys: written,
            sha256: first.sha256.clone(),
            ingested_at: first.ingested_at.clone(),
            bytes,
        });
        manifest.pending.extend(replaced.map(|l| l.keys));
        self.write_manifest(&manifest).await?;
        self.sweep(&mut manifest).await
    }

    async fn delete_document(&self, source: &str) -> Result<(), RagError> {
        let Some(manifest) = self.manifest(source).await? else { return Ok(()) };
        let doc = layout::document_id(source);
        let generations = manifest.all_generations();
        let keys: Vec<String> = generations.iter().flat_map(|g| g.keys(&doc)).collect();
        self.delete_keys(source, keys).await?;
        // The manifest goes last: until then a retry still knows every key.
        self.client
            .delete_vectors()
            .vector_bucket_name(&self.bucket)
            .index_name(&self.manifests)
            .keys(doc)
            .send()
            .await
            .map_err(|e| rag_error(&format!("deleting the manifest of {source}"), e))?;
        Ok(())
    }

    async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        if vector.len() != self.dimensions {
            return Err(RagError::Failed(format!(
                "the query has {} dimensions but index {} holds {}",
                vector.len(),
                self.chunks,
                self.dimensions
            )));
        }
        let top_k = k.clamp(1, MAX_TOP_K);
        let out = self
            .client
            .query_vectors()
            .vector_bucket_name(&self.bucket)
            .index_name(&self.chunks)
            .top_k(top_k as i32)
            .query_vector(VectorData::Float32(vector.to_vec()))
            .return_metadata(true)
            .return_distance(true)
            .send()
            .await
            .map_err(|e| rag_error("searching the vector index", e))?;
        let mut hits: Vec<RetrievedChunk> = out
            .vectors()
            .iter()
            .filter_map(|v| {
                let meta = to_json(v.metadata()?);
                Some(RetrievedChunk {
                    source: meta.get("source")?.as_str()?.to_owned(),
                    chunk: u32::try_from(meta.get("chunk")?.as_u64()?).ok()?,
                    // Cosine distance is 1 - cos(a, b): this gives back the cosine similarity,
                    // the score the floor is set in. A hit without a distance cannot pass it.
                    score: v.distance().map_or(f32::NEG_INFINITY, |d| 1.0 - d),
                    text: meta.get("text")?.as_str()?.to_owned(),
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k);
        Ok(hits)
    }
}

/// An SDK failure as a [`RagError`]: throttling or unavailability that outlasted the retries,
/// a validation error with the field it names, or the code and message of anything else.
fn rag_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    err: SdkError<E, HttpResponse>,
) -> RagError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.as_service_error().and_then(|s| s.code()).map(str::to_owned);
    let message = err.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_owned();
    match (status, code.as_deref()) {
        (Some(429), _) | (_, Some("TooManyRequestsException" | "ThrottlingException")) => {
            RagError::Throttled(format!("{op}: S3 Vectors is throttling requests"))
        }
        (Some(503), _) | (_, Some("ServiceUnavailableException")) => {
            RagError::Throttled(format!("{op}: S3 Vectors is unavailable"))
        }
        (_, Some("ValidationException")) => {
            RagError::Rejected(format!("{op}: refused: {message}{}", fields(&err)))
        }
        (_, Some(code)) => RagError::Failed(format!("{op}: {code}: {message}")),
        _ => RagError::Failed(format!("{op}: {}", super::describe(&err))),
    }
}

/// The fields a ValidationException's `fieldList` names, read from the raw body so that one
/// function serves every operation's error type.
fn fields<E>(err: &SdkError<E, HttpResponse>) -> String {
    let body = err.raw_response().and_then(|r| r.body().bytes()).unwrap_or_default();
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let named: Vec<String> = parsed["fieldList"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| {
            Some(format!("{}: {}", f["path"].as_str()?, f["message"].as_str().unwrap_or_default()))
        })
        .collect();
    if named.is_empty() { String::new() } else { format!(" ({})", named.join("; ")) }
}

pub fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => {
            Document::Object(map.iter().map(|(k, v)| (k.clone(), to_document(v))).collect::<HashMap<_, _>>())
        }
    }
}

pub fn to_json(doc: &Document) -> Value {
    match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            // A whole float is how JSON numbers often come back; keep it an integer.
            if f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64 {
                Value::from(*f as u64)
            } else {
                Value::from(*f)
            }
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Document::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}
