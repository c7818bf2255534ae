//! The documents API's AWS adapters over real wire calls to the emulator: the S3 library lists
//! `docs/` only, its presigned PUT works with the signed content type and length and is refused
//! with any other (the emulator checks presigned signatures as S3 does), and it deletes; the
//! ingest handler writes indexed and failed status records to the conversations table, which
//! `GET /documents` then shows.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chatbot_core::aws::document_status::{DynamoStatuses, STATUS_PARTITION};
use chatbot_core::aws::s3::S3Documents;
use chatbot_core::aws::s3_library::S3Library;
use chatbot_core::domain::document_event::DocumentEvent;
use chatbot_core::domain::extract::ExtractLimits;
use chatbot_core::fakes::{
    ByteCountEmbedder, InMemoryVectorIndex, RecordingMetrics, ScriptedModel, chat_app,
};
use chatbot_core::handlers::documents::Documents;
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, handle_events};
use chatbot_core::handlers::{ApiRequest, route};
use chatbot_core::ports::{
    DocumentLibrary, DocumentSource, DocumentStatus, DocumentStatuses, IndexState, LibraryError,
};
use http::Method;
use serde_json::Value;
use support::moto::Moto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn bucket(s3: &aws_sdk_s3::Client) -> String {
    let bucket = format!("docs-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.expect("create the documents bucket");
    bucket
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await.unwrap();
}

/// A PUT of `body` to a presigned `url` (plain HTTP to the emulator) with `headers`; the status
/// and the body of the answer.
async fn put_to(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("the emulator's URL");
    let (host, target) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).await.unwrap();
    let mut head = format!("PUT {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    (text[9..12].parse().unwrap(), text)
}

#[tokio::test]
async fn the_s3_library_lists_docs_presigns_a_put_for_one_type_and_size_and_deletes() {
    let sdk = Moto::shared().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = bucket(&s3).await;
    put(&s3, &bucket, "docs/a.md", b"# A").await;
    put(&s3, &bucket, "docs/trips/b.txt", b"bee").await;
    put(&s3, &bucket, "elsewhere/c.md", b"not a document").await;
    let library = S3Library::new(s3.clone(), &bucket);

    let listed = library.list().await.unwrap();
    let keys: Vec<(&str, u64)> = listed.iter().map(|d| (d.key.as_str(), d.size)).collect();
    assert_eq!(keys, [("docs/a.md", 3), ("docs/trips/b.txt", 3)], "docs/ only, in key order");
    assert!(listed[0].last_modified.ends_with('Z') && listed[0].last_modified.contains('T'), "{listed:?}");
    // The version a listing shows is the one ingestion reads, so a status record can name it.
    let source = S3Documents::new(s3.clone(), &bucket, ExtractLimits::default().max_bytes);
    let read = source.get("docs/a.md").await.unwrap().unwrap();
    assert_eq!(read.version, listed[0].version);
    assert!(!read.version.is_empty() && !read.version.contains('"'));
    assert_eq!(source.version("docs/a.md").await.unwrap(), Some(read.version.clone()));
    assert_eq!(source.version("docs/none.md").await.unwrap(), None);

    let body = b"# Porto\n\nThe tram to Foz leaves from the river.\n";
    let content_type = "text/markdown; charset=utf-8";
    let target =
        library.upload_target("docs/trips/porto 2026.md", body.len() as u64, content_type).await.unwrap();
    assert_eq!(target.method, "PUT");
    let signed: Vec<(&str, &str)> = target.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(signed, [("content-type", content_type)]);

    let (status, text) = put_to(&target.url, &[("Content-Type", "text/html")], body).await;
    assert_eq!(status, 403, "another content type: {text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    let (status, text) = put_to(&target.url, &signed, b"# Porto, and a longer body than was signed").await;
    assert_eq!(status, 403, "another length: {text}");
    let (status, text) = put_to(&target.url.replace("porto%202026", "other"), &signed, body).await;
    assert_eq!(status, 403, "another key: {text}");
    assert_eq!(library.list().await.unwrap().len(), 2, "nothing refused was stored");

    let (status, text) = put_to(&target.url, &signed, body).await;
    assert_eq!(status, 200, "{text}");
    let stored = s3.get_object().bucket(&bucket).key("docs/trips/porto 2026.md").send().await.unwrap();
    assert_eq!(stored.content_type(), Some(content_type));
    assert_eq!(stored.body.collect().await.unwrap().into_bytes().as_ref(), body);

    library.delete("docs/a.md").await.unwrap();
    assert!(matches!(library.delete("docs/a.md").await, Err(LibraryError::NotFound)));
    let keys: Vec<String> = library.list().await.unwrap().into_iter().map(|d| d.key).collect();
    assert_eq!(keys, ["docs/trips/b.txt", "docs/trips/porto 2026.md"]);
}

#[tokio::test]
async fn ingestion_writes_indexed_and_failed_records_to_the_table_and_the_listing_shows_them() {
    let sdk = Moto::shared().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = bucket(&s3).await;
    let table = support::tables::create_table(&sdk).await;
    let statuses = Arc::new(DynamoStatuses::new(aws_sdk_dynamodb::Client::new(&sdk), &table));
    let ingest = IngestApp {
        documents: Arc::new(S3Documents::new(s3.clone(), &bucket, ExtractLimits::default().max_bytes)),
        embedder: Arc::new(ByteCountEmbedder::new(16)),
        index: Arc::new(InMemoryVectorIndex::default()),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: Some(statuses.clone() as Arc<dyn DocumentStatuses>),
    };
    put(&s3, &bucket, "docs/notes.md", b"# Notes\n\nThe spare key is under the blue pot.\n").await;
    put(&s3, &bucket, "docs/locked.pdf", b"%PDF-1.7 not really a PDF").await;
    put(&s3, &bucket, "docs/waiting.txt", b"not ingested yet").await;
    let events: Vec<DocumentEvent> = ["docs/notes.md", "docs/locked.pdf"]
        .into_iter()
        .map(|key| DocumentEvent::Upserted { key: key.to_owned() })
        .collect();
    handle_events(&ingest, &events).await;

    let records = statuses.all().await.unwrap();
    let state = |key: &str| records.iter().find(|r| r.key == key).map(|r| r.state.clone());
    assert_eq!(state("docs/notes.md"), Some(IndexState::Indexed { chunks: 1 }));
    assert!(matches!(state("docs/locked.pdf"), Some(IndexState::Failed { reason }) if !reason.is_empty()));
    assert_eq!(state("docs/waiting.txt"), None);
    // The records live in their own partition of the conversations table.
    let raw = aws_sdk_dynamodb::Client::new(&sdk).scan().table_name(&table).send().await.unwrap();
    assert!(raw.items().iter().all(|i| i["conversation_id"].as_s().unwrap() == STATUS_PARTITION));

    let mut app = chat_app(Arc::new(ScriptedModel::new("m")), None).await.unwrap();
    app.documents = Some(Documents {
        library: Arc::new(S3Library::new(s3.clone(), &bucket)),
        statuses: statuses.clone(),
    });
    let req = ApiRequest { method: Method::GET, path: "/documents".into(), ..ApiRequest::default() };
    let resp = route(&app, &req).await;
    assert_eq!(resp.status(), 200);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    let shown: Vec<(&str, &str)> = body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [("locked.pdf", "failed"), ("notes.md", "indexed"), ("waiting.txt", "pending")]);
    assert_eq!(body["documents"][1]["chunks"], 1);

    // Deleted from the bucket: the removal event drops the record.
    s3.delete_object().bucket(&bucket).key("docs/notes.md").send().await.unwrap();
    handle_events(&ingest, &[DocumentEvent::Removed { key: "docs/notes.md".into() }]).await;
    let keys: Vec<String> = statuses.all().await.unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(keys, ["docs/locked.pdf"]);

    // A record written again replaces the old one.
    let again = DocumentStatus {
        key: "docs/locked.pdf".into(),
        version: "v2".into(),
        sha256: "ab".into(),
        state: IndexState::Indexed { chunks: 3 },
        recorded_at: "2026-12-04T00:00:00Z".into(),
    };
    statuses.record(&again).await.unwrap();
    assert_eq!(statuses.all().await.unwrap(), [again]);
}
