//! OpenSearch Serverless (AOSS) as the [`VectorIndex`]: one k-NN index of chunks, so retrieval
//! scales without a cluster to run, every request signed with SigV4 for service `aoss`.
//!
//! Where AOSS differs from a managed OpenSearch domain, and what that changes here:
//! - Vector collections reject custom document ids, so chunks are indexed without `_id`. A
//!   document is replaced by `_bulk` of its new chunks, then a delete-by-query of its chunks of
//!   any other `ingested_at`: each re-index has its own, so it names the chunks one run wrote.
//! - There is no `_cluster/health`; the health check asks for the index itself.
//! - `_refresh` is not exposed (it answers 404) and writes become searchable on the collection's own
//!   schedule, so nothing here asks for `refresh`. A read soon after a write may miss it: an
//!   unchanged re-upload may then be re-indexed, and a delete-by-query may miss chunks that are not
//!   searchable yet, which leaves duplicates until the next replace of that document.

use std::time::Duration;

use ::opensearch::auth::Credentials;
use ::opensearch::http::headers::{CONTENT_TYPE, HeaderValue};
use ::opensearch::http::response::Response;
use ::opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use ::opensearch::indices::{IndicesCreateParts, IndicesExistsParts};
use ::opensearch::{BulkParts, DeleteByQueryParts, OpenSearch, SearchParts};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use url::Url;

use crate::domain::prompt::RetrievedChunk;
use crate::ports::{IndexedChunk, IndexedVersion, RagError, VectorIndex};

pub const DEFAULT_INDEX: &str = "chunks";
/// So a stalled connection fails the call rather than running out the Lambda's clock.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Chunks per `_bulk` request: 100 Titan vectors with their text are about 1 MB of JSON.
const BULK_BATCH: usize = 100;
/// How much of an error body goes into a log line.
const EXCERPT_CHARS: usize = 300;

pub struct OpenSearchIndex {
    client: OpenSearch,
    index: String,
    dimensions: usize,
    /// Set once the index is known to exist, so only the first write or search of a process checks.
    ready: OnceCell<()>,
}

impl OpenSearchIndex {
    /// A client for the collection at `endpoint` (`https://<id>.<region>.aoss.amazonaws.com`).
    ///
    /// `sdk` is the Lambda's `&SdkConfig`: its credentials provider and region sign the requests. The
    /// bound names it through the opensearch crate's own conversion, which keeps `aws-types` out of
    /// this crate's dependencies.
    pub fn new<C>(sdk: C, endpoint: &str, index: &str, dimensions: usize) -> Result<Self, RagError>
    where
        Credentials: TryFrom<C>,
        <Credentials as TryFrom<C>>::Error: std::fmt::Display,
    {
        let url =
            Url::parse(endpoint).ok().filter(|u| matches!(u.scheme(), "https" | "http") && u.has_host());
        let url = url.ok_or_else(|| {
            RagError::Failed(format!(
                "the collection endpoint `{endpoint}` is not an http(s) URL like \
                 https://<id>.<region>.aoss.amazonaws.com"
            ))
        })?;
        let credentials = Credentials::try_from(sdk)
            .map_err(|e| RagError::Failed(format!("no AWS credentials to sign OpenSearch requests: {e}")))?;
        if !matches!(credentials, Credentials::AwsSigV4(..)) {
            return Err(RagError::Failed("OpenSearch Serverless needs SigV4 credentials".into()));
        }
        if index.is_empty() || dimensions == 0 {
            return Err(RagError::Failed("the index name and the vector dimension must be set".into()));
        }
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .auth(credentials)
            .service_name("aoss")
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| RagError::Failed(format!("could not build the OpenSearch client: {e}")))?;
        Ok(Self {
            client: OpenSearch::new(transport),
            index: index.to_owned(),
            dimensions,
            ready: OnceCell::new(),
        })
    }

    async fn ensure_index(&self) -> Result<(), RagError> {
        self.ready.get_or_try_init(|| self.create_if_missing()).await.map(|_| ())
    }

    /// Exists check, then create. Another Lambda may create the index between the two: its
    /// "already exists" answer counts as success.
    async fn create_if_missing(&self) -> Result<(), RagError> {
        let op = format!("checking index {}", self.index);
        let index = [self.index.as_str()];
        let exists = self.client.indices().exists(IndicesExistsParts::Index(&index)).send().await;
        let response = exists.map_err(|e| transport_error(&op, &e))?;
        match response.status_code().as_u16() {
            200 => return Ok(()),
            404 => {}
            _ => return Err(failure(&op, response).await),
        }
        let op = format!("creating index {}", self.index);
        let create = IndicesCreateParts::Index(&self.index);
        let response = self.client.indices().create(create).body(self.mapping()).send().await;
        let response = response.map_err(|e| transport_error(&op, &e))?;
        let status = response.status_code().as_u16();
        if (200..300).contains(&status) {
            tracing::info!(index = %self.index, dimensions = self.dimensions, "created the vector index");
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        if status == 400 && body.contains("resource_already_exists_exception") {
            return Ok(());
        }
        Err(http_error(&op, status, &body))
    }

    /// faiss HNSW on inner product: Titan v2's vectors are normalized, so it ranks like cosine
    /// without the cost of normalizing at query time.
    fn mapping(&self) -> Value {
        json!({
            "settings": { "index": { "knn": true } },
            "mappings": { "properties": {
                "vector": {
                    "type": "knn_vector",
                    "dimension": self.dimensions,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": { "m": 16, "ef_construction": 128 }
                    }
                },
                "source": { "type": "keyword" },
                "chunk": { "type": "integer" },
                "title": { "type": "text" },
                "sha256": { "type": "keyword" },
                "ingested_at": { "type": "date" },
                "text": { "type": "text" }
            }}
        })
    }

    fn check_dimensions(&self, what: &str, len: usize) -> Result<(), RagError> {
        if len == self.dimensions {
            return Ok(());
        }
        Err(RagError::Failed(format!(
            "{what} has {len} dimensions but index {} holds {}",
            self.index, self.dimensions
        )))
    }

    async fn run_search<B: Serialize, S: DeserializeOwned>(
        &self,
        op: &str,
        body: B,
    ) -> Result<Vec<Hit<S>>, RagError> {
        let index = [self.index.as_str()];
        let response = self.client.search(SearchParts::Index(&index)).body(body).send().await;
        let response = response.map_err(|e| transport_error(op, &e))?;
        let mut parsed: Value = read_json(op, response).await?;
        serde_json::from_value(parsed["hits"]["hits"].take())
            .map_err(|e| RagError::Failed(format!("{op}: unexpected hits: {e}")))
    }

    async fn delete_chunks(&self, source: &str, query: Value) -> Result<(), RagError> {
        let op = format!("deleting the chunks of {source}");
        let index = [self.index.as_str()];
        let body = json!({ "query": query });
        let response = self.client.delete_by_query(DeleteByQueryParts::Index(&index)).body(body).send().await;
        let response = response.map_err(|e| transport_error(&op, &e))?;
        let parsed: Value = read_json(&op, response).await?;
        let failures = parsed["failures"].as_array().map(Vec::as_slice).unwrap_or_default();
        match failures.first() {
            None => Ok(()),
            Some(first) if failures.iter().any(|f| f["status"] == 429) => {
                Err(RagError::Throttled(format!("{op}: throttled ({})", excerpt(&first.to_string()))))
            }
            Some(first) => Err(RagError::Failed(format!(
                "{op}: {} failures, the first: {}",
                failures.len(),
                excerpt(&first.to_string())
            ))),
        }
    }

    async fn bulk_index(&self, source: &str, batch: &[IndexedChunk]) -> Result<(), RagError> {
        let op = format!("indexing {source}");
        let ndjson = self.ndjson(batch).map_err(|e| RagError::Failed(format!("{op}: {e}")))?;
        let bulk = self.client.bulk(BulkParts::Index(&self.index));
        let bulk = bulk.header(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        let response = bulk.body(vec![ndjson]).send().await.map_err(|e| transport_error(&op, &e))?;
        let parsed: Value = read_json(&op, response).await?;
        if parsed["errors"] != true {
            return Ok(());
        }
        // A 200 with `errors: true` is a partial failure; each item is `{"index": {"status", "error"}}`.
        let items = parsed["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        let failed: Vec<&Value> =
            items.iter().map(|i| &i["index"]).filter(|r| !r["error"].is_null()).collect();
        let counts = format!("{} of {} chunks failed", failed.len(), batch.len());
        if failed.iter().any(|r| r["status"] == 429) {
            return Err(RagError::Throttled(format!("{op}: {counts}: throttled")));
        }
        let reason = failed.first().map_or_else(String::new, |r| {
            let error = &r["error"];
            format!("{}: {}", error["type"].as_str().unwrap_or("?"), error["reason"].as_str().unwrap_or("?"))
        });
        Err(RagError::Failed(format!("{op}: {counts}; the first: {}", excerpt(&reason))))
    }

    /// An action line (no `_id`: AOSS assigns it) and a document line per chunk, each ending in `\n`.
    fn ndjson(&self, batch: &[IndexedChunk]) -> Result<String, serde_json::Error> {
        let action = serde_json::to_string(&json!({ "index": { "_index": self.index } }))?;
        let mut out = String::new();
        for c in batch {
            let doc = ChunkDoc {
                source: &c.source,
                chunk: c.chunk,
                title: &c.title,
                sha256: &c.sha256,
                ingested_at: &c.ingested_at,
                text: &c.text,
                vector: &c.vector,
            };
            out.push_str(&action);
            out.push('\n');
            out.push_str(&serde_json::to_string(&doc)?);
            out.push('\n');
        }
        Ok(out)
    }
}

#[async_trait]
impl VectorIndex for OpenSearchIndex {
    async fn check(&self) -> Result<(), RagError> {
        // Past the once-cell on purpose: a health check must reach the collection every time.
        self.create_if_missing().await?;
        let _ = self.ready.set(());
        Ok(())
    }

    async fn indexed_version(&self, source: &str) -> Result<IndexedVersion, RagError> {
        self.ensure_index().await?;
        let op = format!("looking up {source}");
        // A re-index is one `ingested_at`: counting the chunks per version and per re-index tells
        // a whole document from one cut short or not yet rid of its stale chunks.
        let body = json!({
            "size": 0,
            "track_total_hits": true,
            "query": { "term": { "source": source } },
            "aggs": {
                "versions": { "terms": { "field": "sha256", "size": 2 } },
                "reindexes": { "terms": { "field": "ingested_at", "size": 2 } }
            }
        });
        let index = [self.index.as_str()];
        let response = self.client.search(SearchParts::Index(&index)).body(body).send().await;
        let response = response.map_err(|e| transport_error(&op, &e))?;
        let parsed: VersionCounts = read_json(&op, response).await?;
        Ok(parsed.version())
    }

    async fn replace_document(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError> {
        for c in chunks {
            if c.source != source {
                return Err(RagError::Failed(format!(
                    "chunk {} of {} is not part of {source}",
                    c.chunk, c.source
                )));
            }
            self.check_dimensions(&format!("chunk {} of {source}", c.chunk), c.vector.len())?;
        }
        let Some(first) = chunks.first() else {
            return self.delete_document(source).await;
        };
        if let Some(other) = chunks.iter().find(|c| c.ingested_at != first.ingested_at) {
            return Err(RagError::Failed(format!(
                "chunk {} of {source} belongs to another re-index ({} and {})",
                other.chunk, first.ingested_at, other.ingested_at
            )));
        }
        self.ensure_index().await?;
        // New chunks first: if a batch fails, the previous version is still whole beside them,
        // and the retry's `indexed_version` sees a mixed document and re-indexes it.
        for batch in chunks.chunks(BULK_BATCH) {
            self.bulk_index(source, batch).await?;
        }
        let stale = json!({ "bool": {
            "filter": [{ "term": { "source": source } }],
            "must_not": [{ "term": { "ingested_at": first.ingested_at } }]
        }});
        self.delete_chunks(source, stale).await
    }

    async fn delete_document(&self, source: &str) -> Result<(), RagError> {
        self.ensure_index().await?;
        self.delete_chunks(source, json!({ "term": { "source": source } })).await
    }

    async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        self.check_dimensions("the query vector", vector.len())?;
        self.ensure_index().await?;
        let body = json!({
            "size": k,
            "_source": ["source", "chunk", "text"],
            "query": { "knn": { "vector": { "vector": shortest_floats(vector), "k": k } } }
        });
        let hits: Vec<Hit<ChunkSource>> = self.run_search("searching the index", body).await?;
        Ok(hits
            .into_iter()
            .map(|h| RetrievedChunk {
                source: h.source.source,
                chunk: h.source.chunk,
                // A hit without a score can never pass the score floor.
                score: h.score.map_or(f32::NEG_INFINITY, inner_product),
                text: h.source.text,
            })
            .collect())
    }
}

/// Turns an OpenSearch k-NN score back into the inner product (the cosine, for normalized vectors),
/// so the score floor means the same here as with the local index.
///
/// With faiss and `innerproduct` the engine ranks by d = -(x·y), and OpenSearch reports
/// score = 1 / (1 + d) when d >= 0 (x·y <= 0) and score = 1 - d when d < 0 (x·y > 0): see the
/// "Spaces" table of the k-NN docs and `SpaceType.INNER_PRODUCT.scoreTranslation` in the k-NN
/// plugin. So a score >= 1 is 1 + x·y, and a score in (0, 1) is 1 / (1 - x·y).
fn inner_product(score: f32) -> f32 {
    if score >= 1.0 { score - 1.0 } else { 1.0 - 1.0 / score }
}

async fn read_json<T: DeserializeOwned>(op: &str, response: Response) -> Result<T, RagError> {
    if !response.status_code().is_success() {
        return Err(failure(op, response).await);
    }
    response.json().await.map_err(|e| RagError::Failed(format!("{op}: unexpected answer: {e}")))
}

async fn failure(op: &str, response: Response) -> RagError {
    let status = response.status_code().as_u16();
    let body = response.text().await.unwrap_or_default();
    http_error(op, status, &body)
}

fn http_error(op: &str, status: u16, body: &str) -> RagError {
    let body = excerpt(body);
    match status {
        429 => RagError::Throttled(format!("{op}: the collection answered 429 {body}")),
        403 => RagError::Failed(format!(
            "{op}: 403 Forbidden: the collection's data access policy must name this function's IAM \
             role (and its network policy must admit it) {body}"
        )),
        _ => RagError::Failed(format!("{op}: HTTP {status} {body}")),
    }
}

fn transport_error(op: &str, e: &::opensearch::Error) -> RagError {
    match e.status_code().map(|s| s.as_u16()) {
        Some(429) => RagError::Throttled(format!("{op}: the collection answered 429")),
        _ => RagError::Failed(format!("{op}: could not reach the collection: {}", super::describe(e))),
    }
}

/// `json!` widens an f32 to the nearest f64 and prints all its digits (0.1 becomes
/// 0.10000000149011612); going through the f32's shortest decimal keeps the query half the size.
fn shortest_floats(vector: &[f32]) -> Vec<f64> {
    vector.iter().map(|x| x.to_string().parse().unwrap_or(f64::from(*x))).collect()
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    let mut out: String = body.chars().take(EXCERPT_CHARS).collect();
    if out.len() < body.len() {
        out.push('…');
    }
    out
}

#[derive(Serialize)]
struct ChunkDoc<'a> {
    source: &'a str,
    chunk: u32,
    title: &'a str,
    sha256: &'a str,
    ingested_at: &'a str,
    text: &'a str,
    vector: &'a [f32],
}

#[derive(Deserialize)]
struct Hit<S> {
    #[serde(rename = "_score", default)]
    score: Option<f32>,
    #[serde(rename = "_source")]
    source: S,
}

/// The answer to `indexed_version`'s counting query.
#[derive(Deserialize)]
struct VersionCounts {
    hits: TotalHits,
    aggregations: VersionAggregations,
}

#[derive(Deserialize)]
struct TotalHits {
    total: Total,
}

#[derive(Deserialize)]
struct Total {
    value: usize,
}

#[derive(Deserialize)]
struct VersionAggregations {
    versions: Buckets,
    reindexes: Buckets,
}

#[derive(Deserialize)]
struct Buckets {
    buckets: Vec<Bucket>,
}

#[derive(Deserialize)]
struct Bucket {
    key: Value,
    doc_count: usize,
}

impl VersionCounts {
    fn version(&self) -> IndexedVersion {
        let total = self.hits.total.value;
        let (versions, reindexes) =
            (&self.aggregations.versions.buckets, &self.aggregations.reindexes.buckets);
        match (total, versions.as_slice(), reindexes.as_slice()) {
            (0, _, _) => IndexedVersion::Absent,
            (_, [version], [reindex]) if version.doc_count == total && reindex.doc_count == total => {
                match version.key.as_str() {
                    Some(sha256) => IndexedVersion::Whole { sha256: sha256.to_owned(), chunks: total },
                    None => IndexedVersion::Mixed,
                }
            }
            _ => IndexedVersion::Mixed,
        }
    }
}

#[derive(Deserialize)]
struct ChunkSource {
    source: String,
    chunk: u32,
    text: String,
}
