//! The documents API over the in-memory fakes: the listing with each document's indexing
//! status (as the ingest handler records it), upload targets, deletes, the local target's
//! direct upload, and the conversations API's authentication and §4 errors.

use std::sync::Arc;

use chatbot_core::domain::document_event::DocumentEvent;
use chatbot_core::domain::extract::ExtractLimits;
use chatbot_core::fakes::*;
use chatbot_core::handlers::documents::Documents;
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, handle_events};
use chatbot_core::handlers::{ApiRequest, ChatApp, route};
use chatbot_core::ports::{DocumentStatuses, IndexState};
use chatbot_core::session;
use http::Method;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

struct Harness {
    app: ChatApp,
    docs: Arc<InMemoryDocuments>,
    statuses: Arc<InMemoryStatuses>,
    ingest: IngestApp,
}

async fn harness() -> Harness {
    let mut app = chat_app(Arc::new(ScriptedModel::new("fake-model")), Some(TOKEN)).await.unwrap();
    let docs = Arc::new(InMemoryDocuments::default());
    let statuses = Arc::new(InMemoryStatuses::default());
    app.documents = Some(Documents { library: docs.clone(), statuses: statuses.clone() });
    let ingest = IngestApp {
        documents: docs.clone(),
        embedder: Arc::new(ByteCountEmbedder::new(16)),
        index: Arc::new(InMemoryVectorIndex::default()),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: Some(statuses.clone() as Arc<dyn DocumentStatuses>),
    };
    Harness { app, docs, statuses, ingest }
}

fn request(method: Method, path: &str, body: &str) -> ApiRequest {
    ApiRequest {
        method,
        path: path.to_owned(),
        authorization: Some(format!("Bearer {TOKEN}")),
        body: body.to_owned().into(),
        request_id: "req-7".to_owned(),
        ..ApiRequest::default()
    }
}

async fn call(app: &ChatApp, req: ApiRequest) -> (u16, Value) {
    let resp = route(app, &req).await;
    let status = resp.status().as_u16();
    let body =
        if resp.body().is_empty() { Value::Null } else { serde_json::from_slice(resp.body()).unwrap() };
    (status, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn ingest(h: &Harness, key: &str) {
    handle_events(&h.ingest, &[DocumentEvent::Upserted { key: key.to_owned() }]).await;
}

fn upload_body(name: &str, size: u64, content_type: &str) -> String {
    json!({"name": name, "size": size, "content_type": content_type}).to_string()
}

#[tokio::test]
async fn the_listing_shows_indexed_failed_and_pending_documents_with_the_limits() {
    let h = harness().await;
    const NOTES: &[u8] = b"# Notes\n\nThe spare key is under the blue pot.\n";
    h.docs.put("docs/notes.md", NOTES);
    h.docs.put("docs/broken.pdf", b"%PDF-1.4 this is not a PDF at all");
    ingest(&h, "docs/notes.md").await;
    ingest(&h, "docs/broken.pdf").await;
    h.docs.put("docs/later.txt", b"not ingested yet");

    let (status, body) = call(&h.app, request(Method::GET, "/documents", "")).await;
    assert_eq!(status, 200, "{body}");
    let docs = body["documents"].as_array().unwrap();
    let by_name = |name: &str| docs.iter().find(|d| d["name"] == name).unwrap().clone();
    let notes = by_name("notes.md");
    assert_eq!((notes["status"].as_str(), notes["chunks"].as_u64()), (Some("indexed"), Some(1)));
    assert_eq!(notes["size"], NOTES.len());
    assert_eq!(notes["last_modified"], LAST_MODIFIED);
    assert!(notes["reason"].is_null());
    let broken = by_name("broken.pdf");
    assert_eq!(broken["status"], "failed");
    assert!(broken["chunks"].is_null());
    assert!(!broken["reason"].as_str().unwrap().is_empty(), "{broken}");
    let later = by_name("later.txt");
    assert_eq!((later["status"].as_str(), later["chunks"].is_null()), (Some("pending"), true));
    assert_eq!(body["limits"]["max_bytes"], ExtractLimits::default().max_bytes);
    assert_eq!(body["limits"]["extensions"], json!([".pdf", ".md", ".markdown", ".txt", ".text"]));

    // A new version is pending until ingestion reaches it, whatever the old one's record said.
    h.docs.put("docs/notes.md", b"# Notes\n\nThe key moved to the shed.\n");
    let (_, body) = call(&h.app, request(Method::GET, "/documents", "")).await;
    let names: Vec<&str> =
        body["documents"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["broken.pdf", "later.txt", "notes.md"], "in key order");
    assert_eq!(body["documents"][2]["status"], "pending");
    ingest(&h, "docs/notes.md").await;
    let (_, body) = call(&h.app, request(Method::GET, "/documents", "")).await;
    assert_eq!(body["documents"][2]["status"], "indexed");
}

#[tokio::test]
async fn ingestion_records_indexed_unchanged_and_failed_and_forgets_removed_documents() {
    let h = harness().await;
    h.docs.put("docs/a.md", b"# A\n\nalpha");
    ingest(&h, "docs/a.md").await;
    let first = h.statuses.get("docs/a.md").unwrap();
    assert_eq!(first.state, IndexState::Indexed { chunks: 1 });
    assert_eq!(first.version, h.docs.version_of("docs/a.md").unwrap());
    assert_eq!(first.sha256, chatbot_core::digest::sha256_hex(b"# A\n\nalpha"));
    // The same bytes again: unchanged, and still recorded as indexed.
    ingest(&h, "docs/a.md").await;
    assert_eq!(h.statuses.get("docs/a.md").unwrap().state, IndexState::Indexed { chunks: 1 });

    h.docs.put("docs/b.pdf", b"%PDF-1.7 garbage");
    ingest(&h, "docs/b.pdf").await;
    let failed = h.statuses.get("docs/b.pdf").unwrap();
    assert!(matches!(failed.state, IndexState::Failed { .. }), "{failed:?}");
    assert_eq!(failed.version, h.docs.version_of("docs/b.pdf").unwrap());

    h.docs.remove("docs/a.md");
    handle_events(&h.ingest, &[DocumentEvent::Removed { key: "docs/a.md".into() }]).await;
    assert_eq!(h.statuses.get("docs/a.md"), None);
}

#[tokio::test]
async fn an_upload_target_is_issued_for_a_good_name_size_and_type_only() {
    let h = harness().await;
    let body = upload_body("trips/porto.md", 1200, "");
    let (status, target) = call(&h.app, request(Method::POST, "/documents/uploads", &body)).await;
    assert_eq!(status, 200, "{target}");
    assert_eq!(target["method"], "PUT");
    assert!(target["url"].as_str().unwrap().contains("docs/trips/porto.md"));
    // The server decides the type from the extension: the signed one is never the client's.
    assert_eq!(target["headers"], json!({"Content-Type": "text/markdown; charset=utf-8"}));
    assert_eq!(
        h.docs.uploads_issued(),
        [("docs/trips/porto.md".to_owned(), 1200, "text/markdown; charset=utf-8".to_owned())]
    );

    let max = ExtractLimits::default().max_bytes;
    let refused = [
        (upload_body("../escape.md", 10, ""), 400),
        (upload_body("/abs.md", 10, ""), 400),
        (upload_body("a/../b.md", 10, ""), 400),
        (upload_body("picture.png", 10, "image/png"), 400),
        (upload_body("page.html", 10, "text/html"), 400),
        (upload_body("report.pdf", 10, "text/html"), 400),
        (upload_body("big.pdf", max + 1, "application/pdf"), 413),
        (r#"{"name": "a.md"}"#.to_owned(), 400),
        (r#"{"name": "a.md", "size": 3, "acl": "public-read"}"#.to_owned(), 400),
        ("not json".to_owned(), 400),
    ];
    for (body, expected) in refused {
        let (status, reply) = call(&h.app, request(Method::POST, "/documents/uploads", &body)).await;
        assert_eq!(status, expected, "{body}: {reply}");
        assert_eq!(reply["error"]["request_id"], "req-7");
    }
    assert_eq!(h.docs.uploads_issued().len(), 1, "no target for a refused request");
    let (status, ok) = call(
        &h.app,
        request(Method::POST, "/documents/uploads", &upload_body("big.pdf", max, "application/pdf")),
    )
    .await;
    assert_eq!(status, 200, "{ok}");
}

#[tokio::test]
async fn a_delete_takes_a_url_encoded_name_and_answers_404_for_an_unknown_one() {
    let h = harness().await;
    h.docs.put("docs/trips/porto.md", b"x");
    let (status, _) = call(&h.app, request(Method::DELETE, "/documents/trips%2Fporto.md", "")).await;
    assert_eq!(status, 204);
    assert!(h.docs.keys().is_empty());
    let (status, body) = call(&h.app, request(Method::DELETE, "/documents/trips%2Fporto.md", "")).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    assert!(body["error"]["message"].as_str().unwrap().contains("GET /documents"));
    for bad in ["/documents/..%2Fsecret.md", "/documents/%2Fabs.md", "/documents/x.exe", "/documents/%FF.md"]
    {
        let (status, body) = call(&h.app, request(Method::DELETE, bad, "")).await;
        assert_eq!((status, code(&body)), (400, "bad_request"), "{bad}");
    }
    let (status, _) = call(&h.app, request(Method::GET, "/documents/a.md", "")).await;
    assert_eq!(status, 405);
    let (status, _) = call(&h.app, request(Method::DELETE, "/documents", "")).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_direct_put_is_the_local_targets_only() {
    let h = harness().await;
    let put = |body: &str| request(Method::PUT, "/documents/notes.md", body);
    let (status, body) = call(&h.app, put("# hi")).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("POST /documents/uploads"));
    h.docs.allow_direct_uploads();
    let (status, _) = call(&h.app, put("# hi")).await;
    assert_eq!(status, 204);
    assert_eq!(h.docs.keys(), ["docs/notes.md"]);
    let (status, _) = call(&h.app, request(Method::PUT, "/documents/notes.exe", "x")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_documents_api_authenticates_like_the_conversations_api() {
    let h = harness().await;
    h.docs.put("docs/a.md", b"a");
    let upload = upload_body("b.md", 3, "text/markdown");
    let routes = [
        (Method::GET, "/documents", ""),
        (Method::POST, "/documents/uploads", upload.as_str()),
        (Method::DELETE, "/documents/a.md", ""),
    ];
    for (method, path, body) in &routes {
        let mut req = request(method.clone(), path, body);
        req.authorization = None;
        let (status, reply) = call(&h.app, req).await;
        assert_eq!((status, code(&reply)), (401, "unauthorized"), "{method} {path}");
        let mut req = request(method.clone(), path, body);
        req.authorization = Some("Bearer wrong".into());
        assert_eq!(call(&h.app, req).await.0, 401, "{method} {path}");
    }

    let value = h.app.auth.start_session(TOKEN, session::unix_now()).await.unwrap();
    let by_cookie = |method: Method, path: &str, body: &str, csrf: bool| ApiRequest {
        authorization: None,
        cookie: Some(format!("{}={value}", session::COOKIE_NAME)),
        csrf: csrf.then(|| "1".to_owned()),
        ..request(method, path, body)
    };
    assert_eq!(call(&h.app, by_cookie(Method::GET, "/documents", "", false)).await.0, 200);
    for (method, path, body) in &routes[1..] {
        let (status, reply) = call(&h.app, by_cookie(method.clone(), path, body, false)).await;
        assert_eq!((status, code(&reply)), (403, "forbidden"), "{method} {path}");
    }
    assert_eq!(h.docs.keys(), ["docs/a.md"], "the refused delete deleted nothing");
    assert!(h.docs.uploads_issued().is_empty());
    assert_eq!(call(&h.app, by_cookie(Method::POST, "/documents/uploads", &upload, true)).await.0, 200);
    assert_eq!(call(&h.app, by_cookie(Method::DELETE, "/documents/a.md", "", true)).await.0, 204);
}

#[tokio::test]
async fn with_rag_off_every_documents_route_says_so_and_how_to_turn_it_on() {
    let app = chat_app(Arc::new(ScriptedModel::new("fake-model")), Some(TOKEN)).await.unwrap();
    for (method, path) in [
        (Method::GET, "/documents"),
        (Method::POST, "/documents/uploads"),
        (Method::DELETE, "/documents/a.md"),
    ] {
        let (status, body) = call(&app, request(method.clone(), path, "{}")).await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{method} {path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("RAG") && message.contains("opsctl enable-rag"), "{message}");
    }
    let mut req = request(Method::GET, "/documents", "");
    req.authorization = None;
    assert_eq!(call(&app, req).await.0, 401, "a caller without the token learns nothing more");
}

#[tokio::test]
async fn a_failing_bucket_is_an_internal_error_that_names_no_bucket() {
    let h = harness().await;
    h.docs.fail(true);
    let (status, body) = call(&h.app, request(Method::GET, "/documents", "")).await;
    assert_eq!((status, code(&body)), (500, "internal"));
    assert!(!body.to_string().contains("fake bucket"), "{body}");
}
