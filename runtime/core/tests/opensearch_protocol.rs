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
use chatbot_core::ports::{IndexedChunk, RagError, VectorIndex};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
        "POST /chunks/_search" => reply(
            200,
            r#"{"hits":{"total":{"value":1},"hits":[{"_id":"x","_score":1.2,"_source":{"sha256":"abc123"}}]}}"#,
        ),
        _ => reply(404, r#"{"error":"no such route"}"#),
    }
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

#[tokio::test]
async fn creates_the_knn_index_lazily_once_with_the_mapping() {
    let (c, addr) = collection(false).await;
    let index = index_at(addr);
    index.search(&[0.5; DIMS], 2).await.unwrap();
    index.indexed_sha256("docs/cv.md").await.unwrap();
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
async fn replace_deletes_by_source_then_bulk_indexes_ndjson_without_ids() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);
    let chunks = [chunk(0, [0.5, -0.5, 0.25, 0.0]), chunk(1, [0.1, 0.2, 0.3, 0.4])];
    index.replace_document("docs/cv.md", &chunks).await.unwrap();
    assert_eq!(c.routes(), ["HEAD /chunks", "POST /chunks/_delete_by_query", "POST /chunks/_bulk"]);

    let delete = c.only("POST /chunks/_delete_by_query");
    assert_eq!(delete.json(), json!({"query": {"term": {"source": "docs/cv.md"}}}));

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
async fn indexed_sha256_is_a_size_one_term_query() {
    let (c, addr) = collection(true).await;
    let index = index_at(addr);
    assert_eq!(index.indexed_sha256("docs/cv.md").await.unwrap().as_deref(), Some("abc123"));
    assert_eq!(
        c.only("POST /chunks/_search").json(),
        json!({"size": 1, "_source": ["sha256"], "query": {"term": {"source": "docs/cv.md"}}})
    );
    c.script("POST /chunks/_search", 200, r#"{"hits":{"total":{"value":0},"hits":[]}}"#);
    assert_eq!(index.indexed_sha256("docs/new.md").await.unwrap(), None);
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
    let err = index.indexed_sha256("docs/cv.md").await.unwrap_err();
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
