//! The documents API through the local gateway over raw HTTP, against the emulator's bucket and
//! table: the app's upload (`POST /documents/uploads`, then `PUT` to the same-origin path it
//! returns, by cookie with the CSRF header) stores the file and runs ingestion, so `GET
//! /documents` shows it indexed with its chunk count; a delete takes its chunks and its status
//! record with it.

use std::sync::Arc;
use std::time::Duration;

use chatbot_core::aws::document_status::DynamoStatuses;
use chatbot_core::domain::extract::ExtractLimits;
use chatbot_core::fakes::{RecordingMetrics, ScriptedModel, chat_app};
use chatbot_core::handlers::documents::Documents;
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings};
use chatbot_core::local::hashing::HashingEmbedder;
use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use chatbot_core::ports::{DocumentStatuses, IndexedVersion, VectorIndex};
use opsctl::local::documents::LocalLibrary;
use opsctl::local::gateway::{self, Services};
use serde_json::{Value, json};
use test_support::moto::Moto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "gateway-token-0123456789";
const NOTES: &str = "# House notes\n\nThe spare house key is kept under the blue flower pot by the back door.\n\n\
## Heating\n\nThe boiler's reset button is behind the panel in the utility room.\n";

struct Local {
    port: u16,
    s3: aws_sdk_s3::Client,
    bucket: String,
    index: Arc<SqliteVectorIndex>,
    statuses: Arc<DynamoStatuses>,
}

async fn start() -> Local {
    let sdk = Moto::shared().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = format!("docs-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.expect("create the documents bucket");
    let table = test_support::tables::create_table(&sdk).await;
    let statuses = Arc::new(DynamoStatuses::new(aws_sdk_dynamodb::Client::new(&sdk), &table));
    let index = Arc::new(SqliteVectorIndex::open_in_memory(64).unwrap());
    let ingest = Arc::new(IngestApp {
        documents: Arc::new(chatbot_core::aws::s3::S3Documents::new(
            s3.clone(),
            &bucket,
            ExtractLimits::default().max_bytes,
        )),
        embedder: Arc::new(HashingEmbedder::new(64)),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: Some(statuses.clone() as Arc<dyn DocumentStatuses>),
    });
    let mut app = chat_app(Arc::new(ScriptedModel::new("fake-model")), Some(TOKEN)).await.unwrap();
    app.settings.secure_cookies = false;
    let library = LocalLibrary::new(s3.clone(), &bucket, ingest.clone());
    app.documents = Some(Documents { library: Arc::new(library), statuses: statuses.clone() });
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let services = Services { chat: Arc::new(app), ingest: Some(ingest), metrics: None };
    tokio::spawn(gateway::serve(listener, services, std::future::pending()));
    Local { port, s3, bucket, index, statuses }
}

struct Reply {
    status: u16,
    head: String,
    json: Value,
}

/// One raw exchange; `length` overrides the Content-Length sent (the body is then not sent).
async fn exchange(port: u16, method: &str, target: &str, headers: &[String], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(&format!("{h}\r\n"));
    }
    if !headers.iter().any(|h| h.to_ascii_lowercase().starts_with("content-length:")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    let json = serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null);
    Reply { status, head, json }
}

async fn sign_in(port: u16) -> String {
    let body = json!({"token": TOKEN}).to_string();
    let r =
        exchange(port, "POST", "/session", &["Content-Type: application/json".into()], body.as_bytes()).await;
    assert_eq!(r.status, 204, "{}", r.head);
    let set = r
        .head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .unwrap();
    format!("Cookie: {}", set.split(';').next().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_by_cookie_is_stored_ingested_and_listed_indexed_then_deleted_with_its_chunks() {
    let local = start().await;
    let port = local.port;
    let cookie = sign_in(port).await;
    let csrf = [cookie.clone(), "X-Chat-CSRF: 1".to_owned()];

    let ask = json!({"name": "house notes.md", "size": NOTES.len(), "content_type": "text/markdown"});
    let target = exchange(port, "POST", "/documents/uploads", &csrf, ask.to_string().as_bytes()).await;
    assert_eq!(target.status, 200, "{}", target.json);
    assert_eq!(target.json["method"], "PUT");
    let url = target.json["url"].as_str().unwrap().to_owned();
    assert_eq!(url, "documents/house%20notes.md", "same origin, relative to the app");
    assert_eq!(target.json["headers"], json!({"Content-Type": "text/markdown; charset=utf-8"}));
    let mut upload = csrf.to_vec();
    upload.push("Content-Type: text/markdown; charset=utf-8".to_owned());

    let refused =
        exchange(port, "PUT", &format!("/{url}"), std::slice::from_ref(&cookie), NOTES.as_bytes()).await;
    assert_eq!(refused.status, 403, "a cookie alone cannot upload: {}", refused.json);
    let stored = exchange(port, "PUT", &format!("/{url}"), &upload, NOTES.as_bytes()).await;
    assert_eq!(stored.status, 204, "{}", stored.json);
    let object = local.s3.get_object().bucket(&local.bucket).key("docs/house notes.md").send().await.unwrap();
    assert_eq!(object.content_type(), Some("text/markdown; charset=utf-8"));

    let listed = exchange(port, "GET", "/documents", std::slice::from_ref(&cookie), b"").await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    let doc = &listed.json["documents"][0];
    assert_eq!(
        (doc["name"].as_str(), doc["status"].as_str()),
        (Some("house notes.md"), Some("indexed")),
        "{doc}"
    );
    assert_eq!(doc["size"], NOTES.len());
    assert!(doc["last_modified"].as_str().unwrap().ends_with('Z'), "{doc}");
    let IndexedVersion::Whole { chunks, .. } =
        local.index.indexed_version("docs/house notes.md").await.unwrap()
    else {
        panic!("the document is not whole in the index");
    };
    assert!(chunks >= 1);
    assert_eq!(doc["chunks"], chunks, "the count the index holds");

    let gone = exchange(port, "DELETE", "/documents/house%20notes.md", &csrf, b"").await;
    assert_eq!(gone.status, 204, "{}", gone.json);
    assert_eq!(local.index.indexed_version("docs/house notes.md").await.unwrap(), IndexedVersion::Absent);
    assert!(local.statuses.all().await.unwrap().is_empty(), "the status record went with it");
    let listed = exchange(port, "GET", "/documents", std::slice::from_ref(&cookie), b"").await;
    assert_eq!(listed.json["documents"], json!([]));
    let again = exchange(port, "DELETE", "/documents/house%20notes.md", &csrf, b"").await;
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_over_the_ingestion_limit_is_refused_before_its_body_is_read() {
    let local = start().await;
    let cookie = sign_in(local.port).await;
    let too_big = ExtractLimits::default().max_bytes + 1;
    let headers = [cookie, "X-Chat-CSRF: 1".to_owned(), format!("Content-Length: {too_big}")];
    let r = exchange(local.port, "PUT", "/documents/big.txt", &headers, b"").await;
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (413, Some("payload_too_large")), "{}", r.json);
    let bad = exchange(local.port, "PUT", "/documents/..%2Fescape.md", &headers[..2], b"x").await;
    assert_eq!(bad.status, 400, "{}", bad.json);
    let listed = local.s3.list_objects_v2().bucket(&local.bucket).send().await.unwrap();
    assert!(listed.contents().is_empty(), "nothing was stored");
}
