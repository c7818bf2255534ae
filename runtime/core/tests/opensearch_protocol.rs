//! The OpenSearch Serverless adapter against a local HTTP server that records every request and
//! answers like an AOSS collection: index creation, the `_bulk` NDJSON, delete-by-query, the k-NN
//! query and its scores, error mapping, and a SigV4 `aoss` signature recomputed from each recorded
//! request.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chatbot_core::aws::opensearch::OpenSearchIndex;
use chatbot_core::fakes::{ByteCountEmbedder, InMemoryDocuments, RecordingMetrics};
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, Outcome, ingest_document};
use chatbot_core::ports::{IndexedChunk, IndexedVersion, RagError, VectorIndex};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod support;

const DIMS: usize = 4;

/// One request as the collection received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} header"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A fake collection holding one index, `chunks`.
#[derive(Default)]
struct Collection {
    exists: AtomicBool,
    seen: Mutex<Vec<Seen>>,
    /// Answers by "METHOD /path", each used once, ahead of the usual behaviour.
    scripted: Mutex<HashMap<String, VecDeque<(u16, String)>>>,
    /// `Some`: the collection keeps what `_bulk` writes and answers searches and deletes from it.
    stored: Mutex<Option<Vec<Value>>>,
    /// Bulk calls to let through before the next one fails as an unreachable collection would.
    bulk_failure_after: Mutex<Option<usize>>,
}

impl Collection {
    fn script(&self, route: &str, status: u16, body: &str) {
        self.scripted
            .lock()
            .unwrap()
            .entry(route.to_owned())
            .or_default()
            .push_back((status, body.to_owned()));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn routes(&self) -> Vec<String> {
        self.seen().iter().map(Seen::route).collect()
    }

    /// From now on, the collection keeps its documents.
    fn keep_documents(&self) {
        *self.stored.lock().unwrap() = Some(Vec::new());
    }

    /// Let `ok` more `_bulk` calls through, then fail the next one with a 503.
    fn fail_bulk_after(&self, ok: usize) {
        *self.bulk_failure_after.lock().unwrap() = Some(ok);
    }

    /// The stored documents of `source`, as (chunk, sha256, ingested_at), sorted.
    fn documents_of(&self, source: &str) -> Vec<(u64, String, String)> {
        let stored = self.stored.lock().unwrap();
        let mut out: Vec<(u64, String, String)> = stored
            .iter()
            .flatten()
            .filter(|d| d["source"] == source)
            .map(|d| {
                let text = |f: &str| d[f].as_str().unwrap().to_owned();
                (d["chunk"].as_u64().unwrap(), text("sha256"), text("ingested_at"))
            })
            .collect();
        out.sort();
        out
    }

    fn only(&self, route: &str) -> Seen {
        let matching: Vec<Seen> = self.seen().into_iter().filter(|s| s.route() == route).collect();
        assert_eq!(matching.len(), 1, "expected one {route}, saw {:?}", self.routes());
        matching.into_iter().next().unwrap()
    }
}

fn reply(status: u16, body: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.into()).into_response()
}

const KNN_HITS: &str = r#"{"took":2,"timed_out":false,"hits":{"total":{"value":3,"relation":"eq"},"max_score":1.75,"hits":[
  {"_index":"chunks","_id":"1%3A0%3AaB","_score":1.75,"_source":{"source":"docs/cv.md","chunk":2,"text":"Rust and Go"}},
  {"_index":"chunks","_id":"1%3A0%3AaC","_score":1.0,"_source":{"source":"docs/cv.md","chunk":0,"text":"Unrelated"}},
  {"_index":"chunks","_id":"1%3A0%3AaD","_score":0.8,"_source":{"source":"docs/notes.md","chunk":5,"text":"Opposed"}}]}}"#;

async fn answer(State(c): State<Arc<Collection>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    c.seen.lock().unwrap().push(seen.clone());
    let route = seen.route();
    if let Some((status, body)) = c.scripted.lock().unwrap().get_mut(&route).and_then(VecDeque::pop_front) {
        return reply(status, body);
    }
    if let Some(stored) = c.stored.lock().unwrap().as_mut()
        && let Some(response) = answer_from(stored, &c.bulk_failure_after, &route, &seen)
    {
        return response;
    }
    match route.as_str() {
        "HEAD /chunks" => reply(if c.exists.load(Ordering::SeqCst) { 200 } else { 404 }, ""),
        "PUT /chunks" => {
            c.exists.store(true, Ordering::SeqCst);
            reply(200, r#"{"acknowledged":true,"shards_acknowledged":true,"index":"chunks"}"#)
        }
        "POST /chunks/_bulk" => {
            let docs = seen.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() / 2;
            let item = json!({"index": {"_index": "chunks", "_id": "1%3A0%3Ax", "status": 201, "result": "created"}});
            reply(200, json!({"took": 1, "errors": false, "items": vec![item; docs]}).to_string())
        }
        "POST /chunks/_delete_by_query" => {
            reply(200, r#"{"took":3,"timed_out":false,"total":2,"deleted":2,"failures":[]}"#)
        }
        "POST /chunks/_search" if seen.json()["query"].get("knn").is_some() => reply(200, KNN_HITS),
        "POST /chunks/_search" => reply(200, ONE_WHOLE_VERSION),
        _ => reply(404, r#"{"error":"no such route"}"#),
    }
}

/// What `indexed_version` asks, answered for a document of 3 chunks of one re-index.
const ONE_WHOLE_VERSION: &str = r#"{"took":1,"timed_out":false,"hits":{"total":{"value":3,"relation":"eq"},"max_score":null,"hits":[]},
  "aggregations":{"versions":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"abc123","doc_count":3}]},
  "reindexes":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":1735787045000,"key_as_string":"2025-01-02T03:04:05.000Z","doc_count":3}]}}}"#;

/// The stateful collection: `_bulk` stores, `_delete_by_query` and `_search` read the store, for
/// the query shapes the adapter sends (a `term`, a `bool` of `filter` and `must_not` terms, `knn`,
/// `terms` aggregations). Anything else falls through to the scripted behaviour.
fn answer_from(
    stored: &mut Vec<Value>,
    bulk_failure_after: &Mutex<Option<usize>>,
    route: &str,
    seen: &Seen,
) -> Option<Response> {
    match route {
        "POST /chunks/_bulk" => {
            let mut failure = bulk_failure_after.lock().unwrap();
            match failure.as_mut() {
                Some(0) => {
                    *failure = None;
                    return Some(reply(503, r#"{"status":503,"error":"Service Unavailable"}"#));
                }
                Some(n) => *n -= 1,
                None => {}
            }
            let lines: Vec<Value> = seen
                .body
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect();
            let docs: Vec<Value> = lines.chunks(2).map(|pair| pair[1].clone()).collect();
            let item = json!({"index": {"_index": "chunks", "status": 201, "result": "created"}});
            let items = vec![item; docs.len()];
            stored.extend(docs);
            Some(reply(200, json!({"took": 1, "errors": false, "items": items}).to_string()))
        }
        "POST /chunks/_delete_by_query" => {
            let query = &seen.json()["query"];
            let before = stored.len();
            stored.retain(|d| !matches(d, query));
            let deleted = before - stored.len();
            Some(reply(
                200,
                json!({"took": 1, "deleted": deleted, "total": deleted, "failures": []}).to_string(),
            ))
        }
        "POST /chunks/_search" => {
            let body = seen.json();
            if body["query"].get("knn").is_some() {
                return None;
            }
            let hits: Vec<&Value> = stored.iter().filter(|d| matches(d, &body["query"])).collect();
            let mut aggregations = serde_json::Map::new();
            for (name, agg) in body["aggs"].as_object().into_iter().flatten() {
                let field = agg["terms"]["field"].as_str().unwrap();
                let mut counts: Vec<(String, usize)> = Vec::new();
                for h in &hits {
                    let key = h[field].as_str().unwrap().to_owned();
                    match counts.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((key, 1)),
                    }
                }
                let buckets: Vec<Value> =
                    counts.into_iter().map(|(key, n)| json!({"key": key, "doc_count": n})).collect();
                aggregations.insert(name.clone(), json!({"buckets": buckets}));
            }
            let size = body["size"].as_u64().unwrap_or(10) as usize;
            let shown: Vec<Value> =
                hits.iter().take(size).map(|d| json!({"_id": "x", "_score": 1.0, "_source": d})).collect();
            Some(reply(
                200,
                json!({"hits": {"total": {"value": hits.len()}, "hits": shown}, "aggregations": aggregations})
                    .to_string(),
            ))
        }
        _ => None,
    }
}

/// Whether stored document `d` matches `query`, for the shapes the adapter sends.
fn matches(d: &Value, query: &Value) -> bool {
    if let Some(term) = query.get("term").and_then(Value::as_object) {
        return term.iter().all(|(field, value)| &d[field] == value);
    }
    if let Some(b) = query.get("bool") {
        let all = |key: &str| b[key].as_array().cloned().unwrap_or_default();
        return all("filter").iter().all(|q| matches(d, q)) && !all("must_not").iter().any(|q| matches(d, q));
    }
    panic!("the fake collection does not know the query {query}");
}

async fn collection(index_exists: bool) -> (Arc<Collection>, SocketAddr) {
    let c = Arc::new(Collection::default());
    c.exists.store(index_exists, Ordering::SeqCst);
    let app = Router::new().fallback(answer).with_state(c.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (c, addr)
}

fn credentials() -> Credentials {
    Credentials::new("AKIDEXAMPLE", "secret", None, None, "test")
}

fn sdk() -> SdkConfig {
    SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .region(Region::new("us-east-1"))
        .build()
}

fn index_at(addr: SocketAddr) -> OpenSearchIndex {
    OpenSearchIndex::new(&sdk(), &format!("http://{addr}"), "chunks", DIMS).unwrap()
}

fn chunk(n: u32, vector: [f32; DIMS]) -> IndexedChunk {
    IndexedChunk {
        source: "docs/cv.md".into(),
        chunk: n,
        title: "CV".into(),
        sha256: "abc123".into(),
        text: format!("chunk \"{n}\""),
        vector: vector.to_vec(),
        ingested_at: "2025-01-02T03:04:05Z".into(),
    }
}

fn version_chunk(n: u32, sha256: &str, ingested_at: &str) -> IndexedChunk {
    IndexedChunk { sha256: sha256.into(), ingested_at: ingested_at.into(), ..chunk(n, [0.25; DIMS]) }
}

#[tokio::test]
async fn a_reindex_cut_short_in_its_second_batch_keeps_the_old_version_and_the_retry_completes_it() {
    let (c, addr) = collection(true).await;
    c.keep_documents();
    let index = index_at(addr);
    let old: Vec<IndexedChunk> = (0..3).map(|n| version_chunk(n, "old", "2025-01-01T00:00:00Z")).collect();
    index.replace_document("docs/cv.md", &old).await.unwrap();

    // 150 chunks go out in two bulk requests; the second one fails.
    let new: Vec<IndexedChunk> = (0..150).map(|n| version_chunk(n, "new", "2025-02-01T00:00:00Z")).collect();
    c.fail_bulk_after(1);
    assert!(index.replace_document("docs/cv.md", &new).await.is_err());
    let left = c.documents_of("docs/cv.md");
    let old_left: Vec<u64> = left.iter().filter(|d| d.1 == "old").map(|d| d.0).collect();
    assert_eq!(old_left, [0, 1, 2], "a reader still finds the whole previous version");

    // The retry (a new re-index) writes every chunk, then removes the old version and the
    // first attempt's partial write.
    let retry: Vec<IndexedChunk> =
        (0..150).map(|n| version_chunk(n, "new", "2025-02-01T00:05:00Z")).collect();
    index.replace_document("docs/cv.md", &retry).await.unwrap();
    let want: Vec<(u64, String, String)> =
        (0..150).map(|n| (n, "new".to_owned(), "2025-02-01T00:05:00Z".to_owned())).collect();
    assert_eq!(c.documents_of("docs/cv.md"), want);
}

#[tokio::test]
async fn the_ingest_handler_repairs_a_reindex_cut_short_instead_of_calling_it_unchanged() {
    let (c, addr) = collection(true).await;
    c.keep_documents();
    let docs = Arc::new(InMemoryDocuments::default());
    let text: String = (0..8000).map(|i| format!("Sentence number {i} is here. ")).collect();
    docs.put("docs/long.txt", text.as_bytes());
    let expected = support::chunks::expected(&[("docs/long.txt", text.as_bytes())]).len();
    assert!(expected > 100, "the document spans two bulk requests ({expected} chunks)");
    let app = IngestApp {
        documents: docs,
        embedder: Arc::new(ByteCountEmbedder::new(DIMS)),
        index: Arc::new(index_at(addr)),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: None,
    };

    c.fail_bulk_after(1);
    let first = ingest_document(&app, "docs/long.txt").await;
    assert!(first.as_ref().is_err_and(|e| e.is_transient()), "{first:?}");
    // The retry finds the first attempt's chunks, of the same content, and must not stop there.
    let retry = ingest_document(&app, "docs/long.txt").await.unwrap();
    assert_eq!(retry, Outcome::Indexed { chunks: expected });
    let stored = c.documents_of("docs/long.txt");
    let numbers: Vec<u64> = stored.iter().map(|d| d.0).collect();
    assert_eq!(numbers, (0..expected as u64).collect::<Vec<_>>(), "every chunk, each once");
    assert!(stored.iter().all(|d| d.2 == stored[0].2), "all from the retry");
    assert_eq!(ingest_document(&app, "docs/long.txt").await.unwrap(), Outcome::Unchanged);
}

#[tokio::test]
async fn creates_the_knn_index_lazily_once_with_the_mapping() {
    let (c, addr) = collection(false).await;
    let index = index_at(addr);
    index.search(&[0.5; DIMS], 2).await.unwrap();
    index.indexed_version("docs/cv.md").await.unwrap();
    assert_eq!(
        c.routes(),
        ["HEAD /chunks", "PUT /chunks", "POST /chunks/_search", "POST /chunks/_search"],
        "the index is checked and created once per process, before the first search"
    );
    let put = c.only("PUT /chunks");
    assert_eq!(put.header("content-type"), "application/json");
    let mapping = put.json();
    assert_eq!(mapping["settings"]["index"]["knn"], json!(true));
    let props = &mapping["mappings"]["properties"];
    assert_eq!(props["vector"]["type"], "knn_vector");
    assert_eq!(props["vector"]["dimension"], json!(DIMS));
    assert_eq!(props["vector"]["method"]["name"], "hnsw");
    assert_eq!(props["vector"]["method"]["engine"], "faiss");
    assert_eq!(props["vector"]["method"]["space_type"], "innerproduct");
    for (field, ty) in [
        ("source", "keyword"),
        ("chunk", "integer"),
        ("title", "text"),
        ("sha256", "keyword"),
        ("ingested_at", "date"),
        ("text", "text"),
    ] {
        assert_eq!(props[field]["type"], ty, "type of {field}");
    }
}

#[tokio::test]
async fn check_hits_the_index_every_time_but_creates_it_once() {
    let (c, addr) = collection(false).await;
    let index = index_at(addr);
    index.check().await.unwrap();
    index.check().await.unwrap();
    assert_eq!(c.routes(), ["HEAD /chunks", "PUT /chunks", "HEAD /chunks"]);
    // The health check already made sure of the index: writes do not ask again.
    index.delete_document("docs/cv.md").await.unwrap();
    assert_eq!(c.routes().last().unwrap(), "POST /chunks/_delete_by_query");
    assert_eq!(c.routes().len(), 4);
}

#[tokio::test]
async fn an_existing_index_is_not_recreated() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);
    index.check().await.unwrap();
    index.replace_document("docs/cv.md", &[chunk(0, [0.5; DIMS])]).await.unwrap();
    assert!(!c.routes().iter().any(|r| r == "PUT /chunks"), "saw {:?}", c.routes());
}

#[tokio::test]
async fn a_create_lost_to_a_concurrent_one_counts_as_success() {
    let (c, addr) = collection(false).await;
    c.script(
        "PUT /chunks",
        400,
        r#"{"error":{"root_cause":[{"type":"resource_already_exists_exception","reason":"index [chunks/x] already exists"}],"type":"resource_already_exists_exception","reason":"index [chunks/x] already exists"},"status":400}"#,
    );
    index_at(addr).check().await.unwrap();
    assert_eq!(c.routes(), ["HEAD /chunks", "PUT /chunks"]);
}

#[tokio::test]
async fn replace_bulk_indexes_ndjson_without_ids_then_deletes_the_stale_chunks() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);
    let chunks = [chunk(0, [0.5, -0.5, 0.25, 0.0]), chunk(1, [0.1, 0.2, 0.3, 0.4])];
    index.replace_document("docs/cv.md", &chunks).await.unwrap();
    assert_eq!(c.routes(), ["HEAD /chunks", "POST /chunks/_bulk", "POST /chunks/_delete_by_query"]);

    let delete = c.only("POST /chunks/_delete_by_query");
    assert_eq!(
        delete.json(),
        json!({"query": {"bool": {
            "filter": [{"term": {"source": "docs/cv.md"}}],
            "must_not": [{"term": {"ingested_at": "2025-01-02T03:04:05Z"}}]
        }}})
    );

    let bulk = c.only("POST /chunks/_bulk");
    assert_eq!(bulk.header("content-type"), "application/x-ndjson");
    let expected = concat!(
        r#"{"index":{"_index":"chunks"}}"#,
        "\n",
        r#"{"source":"docs/cv.md","chunk":0,"title":"CV","sha256":"abc123","ingested_at":"2025-01-02T03:04:05Z","text":"chunk \"0\"","vector":[0.5,-0.5,0.25,0.0]}"#,
        "\n",
        r#"{"index":{"_index":"chunks"}}"#,
        "\n",
        r#"{"source":"docs/cv.md","chunk":1,"title":"CV","sha256":"abc123","ingested_at":"2025-01-02T03:04:05Z","text":"chunk \"1\"","vector":[0.1,0.2,0.3,0.4]}"#,
        "\n",
    );
    assert_eq!(std::str::from_utf8(&bulk.body).unwrap(), expected);
    assert!(!expected.contains("_id"));
    // AOSS does not take `refresh` (or any other parameter) on these writes.
    assert!(c.seen().iter().all(|s| s.query.is_none()), "{:?}", c.seen());
}

#[tokio::test]
async fn replace_refuses_chunks_of_two_reindexes_before_sending_anything() {
    let (c, addr) = collection(true).await;
    let mut other = chunk(1, [0.5; DIMS]);
    other.ingested_at = "2025-01-02T03:04:06Z".into();
    let err =
        index_at(addr).replace_document("docs/cv.md", &[chunk(0, [0.5; DIMS]), other]).await.unwrap_err();
    assert!(matches!(&err, RagError::Failed(m) if m.contains("another re-index")), "{err:?}");
    assert!(c.routes().is_empty());
}

#[tokio::test]
async fn replace_rejects_a_vector_of_the_wrong_size_before_sending_anything() {
    let (c, addr) = collection(true).await;
    let mut wrong = chunk(0, [0.5; DIMS]);
    wrong.vector.push(0.5);
    let err = index_at(addr).replace_document("docs/cv.md", &[wrong]).await.unwrap_err();
    assert!(matches!(&err, RagError::Failed(m) if m.contains("5 dimensions")), "{err:?}");
    assert!(c.routes().is_empty());
}

#[tokio::test]
async fn delete_document_is_a_delete_by_query_on_source() {
    let (c, addr) = collection(true).await;
    index_at(addr).delete_document("docs/old.pdf").await.unwrap();
    let delete = c.only("POST /chunks/_delete_by_query");
    assert_eq!(delete.json(), json!({"query": {"term": {"source": "docs/old.pdf"}}}));
}

#[tokio::test]
async fn knn_query_and_scores_turned_back_into_inner_products() {
    let (c, addr) = collection(true).await;
    let hits = index_at(addr).search(&[0.1, -0.5, 0.25, 0.0], 3).await.unwrap();
    let search = c.only("POST /chunks/_search");
    assert_eq!(
        search.json(),
        json!({
            "size": 3,
            "_source": ["source", "chunk", "text"],
            "query": {"knn": {"vector": {"vector": [0.1, -0.5, 0.25, 0.0], "k": 3}}}
        })
    );
    // The f32s go out in their shortest form, not widened to 0.10000000149011612.
    let raw = std::str::from_utf8(&search.body).unwrap();
    assert!(raw.contains(r#"[0.1,-0.5,0.25,0.0]"#), "{raw}");
    let got: Vec<(&str, u32, &str)> =
        hits.iter().map(|h| (h.source.as_str(), h.chunk, h.text.as_str())).collect();
    assert_eq!(
        got,
        [("docs/cv.md", 2, "Rust and Go"), ("docs/cv.md", 0, "Unrelated"), ("docs/notes.md", 5, "Opposed")]
    );
    // faiss innerproduct: score 1 + ip for ip >= 0, 1 / (1 - ip) below: 1.75 -> 0.75, 1.0 -> 0, 0.8 -> -0.25.
    let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
    for (got, want) in scores.iter().zip([0.75, 0.0, -0.25]) {
        assert!((got - want).abs() < 1e-6, "scores {scores:?}");
    }
}

#[tokio::test]
async fn indexed_version_counts_the_chunks_per_version_and_per_reindex() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);
    assert_eq!(
        index.indexed_version("docs/cv.md").await.unwrap(),
        IndexedVersion::Whole { sha256: "abc123".into(), chunks: 3 }
    );
    assert_eq!(
        c.only("POST /chunks/_search").json(),
        json!({"size": 0, "track_total_hits": true, "query": {"term": {"source": "docs/cv.md"}},
               "aggs": {"versions": {"terms": {"field": "sha256", "size": 2}},
                        "reindexes": {"terms": {"field": "ingested_at", "size": 2}}}})
    );
    let answer = |total: usize, versions: &[(&str, usize)], reindexes: &[(i64, usize)]| {
        let v: Vec<Value> = versions.iter().map(|(k, n)| json!({"key": k, "doc_count": n})).collect();
        let r: Vec<Value> = reindexes.iter().map(|(k, n)| json!({"key": k, "doc_count": n})).collect();
        json!({"hits": {"total": {"value": total}, "hits": []},
               "aggregations": {"versions": {"buckets": v}, "reindexes": {"buckets": r}}})
        .to_string()
    };
    c.script("POST /chunks/_search", 200, &answer(0, &[], &[]));
    assert_eq!(index.indexed_version("docs/new.md").await.unwrap(), IndexedVersion::Absent);
    // Two versions side by side: a re-index not yet rid of its stale chunks.
    c.script("POST /chunks/_search", 200, &answer(5, &[("new", 3), ("old", 2)], &[(2, 3), (1, 2)]));
    assert_eq!(index.indexed_version("docs/cv.md").await.unwrap(), IndexedVersion::Mixed);
    // One version written by two re-indexes: the first one was cut short.
    c.script("POST /chunks/_search", 200, &answer(5, &[("new", 5)], &[(2, 3), (1, 2)]));
    assert_eq!(index.indexed_version("docs/cv.md").await.unwrap(), IndexedVersion::Mixed);
    // Chunks written before re-indexes were told apart carry no `ingested_at` bucket.
    c.script("POST /chunks/_search", 200, &answer(5, &[("new", 5)], &[(2, 3)]));
    assert_eq!(index.indexed_version("docs/cv.md").await.unwrap(), IndexedVersion::Mixed);
}

#[tokio::test]
async fn throttling_forbidden_and_server_errors_map_to_rag_errors() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);

    // A throttled first check leaves the index unconfirmed, so the next call checks again.
    c.script("HEAD /chunks", 429, "");
    assert!(matches!(index.search(&[0.5; DIMS], 1).await, Err(RagError::Throttled(_))));
    index.search(&[0.5; DIMS], 1).await.unwrap();
    assert_eq!(c.routes().iter().filter(|r| *r == "HEAD /chunks").count(), 2);

    c.script("POST /chunks/_search", 429, r#"{"status":429,"error":"Too Many Requests"}"#);
    assert!(matches!(index.search(&[0.5; DIMS], 1).await, Err(RagError::Throttled(_))));

    c.script(
        "POST /chunks/_search",
        403,
        r#"{"status":403,"request-id":"r1","error":{"reason":"Forbidden"}}"#,
    );
    let err = index.indexed_version("docs/cv.md").await.unwrap_err();
    assert!(
        matches!(&err, RagError::Failed(m) if m.contains("403") && m.contains("data access policy")),
        "{err:?}"
    );

    c.script("POST /chunks/_delete_by_query", 500, r#"{"error":"internal failure xyz"}"#);
    let err = index.delete_document("docs/cv.md").await.unwrap_err();
    assert!(
        matches!(&err, RagError::Failed(m) if m.contains("500") && m.contains("internal failure xyz")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bulk_item_errors_are_reported_and_item_throttling_is_throttling() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);
    let chunks = [chunk(0, [0.5; DIMS]), chunk(1, [0.5; DIMS])];

    c.script(
        "POST /chunks/_bulk",
        200,
        r#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"chunks","_id":"a","status":201,"result":"created"}},
            {"index":{"_index":"chunks","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [vector] of type [knn_vector]"}}}]}"#,
    );
    let err = index.replace_document("docs/cv.md", &chunks).await.unwrap_err();
    assert!(
        matches!(&err, RagError::Failed(m) if m.contains("1 of 2") && m.contains("mapper_parsing_exception")
            && m.contains("failed to parse field [vector]")),
        "{err:?}"
    );

    c.script(
        "POST /chunks/_bulk",
        200,
        r#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"chunks","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected"}}},
            {"index":{"_index":"chunks","_id":"b","status":201,"result":"created"}}]}"#,
    );
    let err = index.replace_document("docs/cv.md", &chunks).await.unwrap_err();
    assert!(matches!(err, RagError::Throttled(_)), "{err:?}");

    c.script("POST /chunks/_bulk", 429, "");
    let err = index.replace_document("docs/cv.md", &chunks).await.unwrap_err();
    assert!(matches!(err, RagError::Throttled(_)), "{err:?}");
}

#[tokio::test]
async fn bad_endpoints_and_configs_are_clear_errors() {
    for endpoint in ["not a url", "ftp://xyz.us-east-1.aoss.amazonaws.com", ""] {
        let err = OpenSearchIndex::new(&sdk(), endpoint, "chunks", DIMS).err().unwrap();
        assert!(matches!(&err, RagError::Failed(m) if m.contains("collection endpoint")), "{err:?}");
    }
    let no_region =
        SdkConfig::builder().credentials_provider(SharedCredentialsProvider::new(credentials())).build();
    let err = OpenSearchIndex::new(&no_region, "https://xyz.us-east-1.aoss.amazonaws.com", "chunks", DIMS)
        .err()
        .unwrap();
    assert!(matches!(&err, RagError::Failed(m) if m.contains("region")), "{err:?}");
}

#[tokio::test]
async fn every_request_is_sigv4_signed_for_aoss() {
    let (c, addr) = collection(false).await;
    let index = index_at(addr);
    index.check().await.unwrap();
    index.replace_document("docs/cv.md", &[chunk(0, [0.5, -0.5, 0.25, 0.0])]).await.unwrap();
    index.search(&[0.5; DIMS], 2).await.unwrap();
    let seen = c.seen();
    assert_eq!(seen.len(), 5, "{:?}", c.routes());
    for request in &seen {
        assert_signed_for_aoss(request, addr);
    }
    // The recomputation really depends on the request: another path or body signs differently.
    let bulk = c.only("POST /chunks/_bulk");
    let signature = |r: &Seen| r.header("authorization").rsplit("Signature=").next().unwrap().to_owned();
    let mut moved = bulk.clone();
    moved.path = "/other/_bulk".into();
    assert_ne!(recompute_signature(&moved, addr), signature(&bulk));
    let mut altered = bulk.clone();
    altered.body = Bytes::from_static(b"{}\n");
    assert_ne!(recompute_signature(&altered, addr), signature(&bulk));
}

/// Checks the shape of the `Authorization` header and the payload hash, then the signature itself.
fn assert_signed_for_aoss(r: &Seen, addr: SocketAddr) {
    let auth = r.header("authorization");
    let date = r.header("x-amz-date");
    let scope =
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/us-east-1/aoss/aws4_request, ", &date[..8]);
    let rest = auth.strip_prefix(&scope).unwrap_or_else(|| panic!("{} has {auth}", r.route()));
    let (signed, signature) =
        rest.strip_prefix("SignedHeaders=").and_then(|s| s.split_once(", Signature=")).unwrap();
    let signed: Vec<&str> = signed.split(';').collect();
    for name in ["host", "x-amz-date", "x-amz-content-sha256"] {
        assert!(signed.contains(&name), "{} signs {signed:?}", r.route());
    }
    assert_eq!(r.header("x-amz-content-sha256"), hex(&Sha256::digest(&r.body)), "{}", r.route());
    assert_eq!(signature, recompute_signature(r, addr), "signature of {}", r.route());
}

/// The signature `aws-sigv4` computes for the recorded request, replaying the headers it says it
/// signed, with the same credentials and time.
fn recompute_signature(r: &Seen, addr: SocketAddr) -> String {
    let auth = r.header("authorization");
    let signed: Vec<&str> =
        auth.split_once("SignedHeaders=").unwrap().1.split(',').next().unwrap().split(';').collect();
    let date = r.header("x-amz-date");
    let uri = match &r.query {
        Some(q) => format!("http://{addr}{}?{q}", r.path),
        None => format!("http://{addr}{}", r.path),
    };
    // The signer adds the date and payload hash itself; every other signed header is replayed as received.
    let headers = signed
        .iter()
        .filter(|n| !matches!(**n, "x-amz-date" | "x-amz-content-sha256"))
        .map(|n| (*n, r.header(n)));
    let identity: Identity = credentials().into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("aoss")
        .time(amz_time(date))
        .settings(settings)
        .build()
        .unwrap();
    let request = SignableRequest::new(&r.method, &uri, headers, SignableBody::Bytes(&r.body)).unwrap();
    sign(request, &SigningParams::V4(params)).unwrap().into_parts().1
}

fn amz_time(date: &str) -> SystemTime {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(date, format).unwrap().assume_utc().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
