//! The local gateway over real HTTP on loopback: hostile and malformed requests get the §4 errors,
//! never a 500, and the server keeps serving.

use std::sync::Arc;
use std::time::Duration;

use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::fakes::{
    InMemoryConversationStore, InMemoryIdempotencyStore, LocalKeyring, RecordingMetrics, StaticSecret,
};
use chatbot_core::handlers::{ChatApp, ChatSettings};
use chatbot_core::local::extractive::ExtractiveModel;
use opsctl::local::gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "gateway-token-0123456789";

async fn start() -> (u16, tokio::sync::oneshot::Sender<()>) {
    let app = ChatApp {
        store: Arc::new(InMemoryConversationStore::new()),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: Arc::new(ExtractiveModel::new()),
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        auth: Authenticator::Token(
            TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.unwrap(),
        ),
        settings: ChatSettings::default(),
        documents: None,
    };
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(listener.local_addr().unwrap().ip().is_loopback());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway::serve(listener, Arc::new(app), async move {
        let _ = stopped.await;
    }));
    (port, stop)
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// One raw HTTP/1.1 exchange, so bodies can be truncated, oversized or not UTF-8.
async fn exchange(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    length: Option<usize>,
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        length.unwrap_or(body.len())
    ));
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    if length.is_some() {
        // A body shorter than its Content-Length: the client stops sending.
        stream.shutdown().await.unwrap();
    }
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("a reply in time")
        .ok();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    Reply { status, head: head.to_lowercase(), body: raw[split + 4..].to_vec() }
}

async fn post(port: u16, body: &[u8]) -> Reply {
    exchange(port, "POST", "/chat", Some(TOKEN), body, None).await
}

fn error_code(reply: &Reply) -> String {
    let json: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&reply.body)));
    assert!(json["error"]["request_id"].is_string(), "§4 shape: {json}");
    assert!(json["error"]["message"].is_string(), "§4 shape: {json}");
    json["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bad_input_gets_the_documented_errors_and_never_a_500() {
    let (port, _stop) = start().await;
    let big_message = format!(r#"{{"message":"{}"}}"#, "a".repeat(16 * 1024 + 1));
    let big_body = format!(r#"{{"message":"hi","pad":"{}"}}"#, "b".repeat(33 * 1024));
    let megabyte = vec![b'x'; 1024 * 1024];
    let nested = format!(r#"{{"message":{}{}}}"#, "[".repeat(2000), "]".repeat(2000));
    let long_field = format!(r#"{{"message":"hi","{}":1}}"#, "é".repeat(150));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("truncated JSON", br#"{"message": "hi""#.to_vec(), 400),
        ("message of the wrong type", br#"{"message": 5}"#.to_vec(), 400),
        ("conversation id of the wrong type", br#"{"message":"hi","conversation_id":12}"#.to_vec(), 400),
        ("a 1 MB body", megabyte, 413),
        ("invalid UTF-8", b"{\"message\":\"\xff\xfe\"}".to_vec(), 400),
        ("an unknown field", br#"{"message":"hi","admin":true}"#.to_vec(), 400),
        ("an unknown multi-byte field name", long_field.into_bytes(), 400),
        ("a non-UUID conversation id", br#"{"message":"hi","conversation_id":"not-a-uuid"}"#.to_vec(), 400),
        ("an empty message", br#"{"message":""}"#.to_vec(), 400),
        ("a blank message", br#"{"message":"  \n\t "}"#.to_vec(), 400),
        ("no body", Vec::new(), 400),
        ("JSON null", b"null".to_vec(), 400),
        ("a JSON array", b"[]".to_vec(), 400),
        ("a message over 16 KiB", big_message.into_bytes(), 413),
        ("a body over 32 KiB", big_body.into_bytes(), 413),
        ("a duplicate field", br#"{"message":"a","message":"b"}"#.to_vec(), 400),
        ("2,000 levels of nesting", nested.into_bytes(), 400),
    ];
    for (name, body, want) in &cases {
        let reply = post(port, body).await;
        assert_eq!(reply.status, *want, "{name}: {}", String::from_utf8_lossy(&reply.body));
        let code = error_code(&reply);
        assert!(!code.is_empty(), "{name}: no error code");
    }

    // Routing and authentication.
    let reply = exchange(port, "GET", "/chat", Some(TOKEN), b"", None).await;
    assert_eq!((reply.status, error_code(&reply).as_str()), (405, "method_not_allowed"));
    let reply = exchange(port, "POST", "/admin", Some(TOKEN), b"{}", None).await;
    assert_eq!(reply.status, 404);
    error_code(&reply);
    let reply = exchange(port, "POST", "/chat", None, br#"{"message":"hi"}"#, None).await;
    assert_eq!((reply.status, error_code(&reply).as_str()), (401, "unauthorized"));
    let reply = exchange(port, "POST", "/chat", Some("wrong-token"), br#"{"message":"hi"}"#, None).await;
    assert_eq!(reply.status, 401);

    // A body cut short of its Content-Length.
    let reply = exchange(port, "POST", "/chat", Some(TOKEN), br#"{"message":"h"#, Some(500)).await;
    assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&reply.body));

    // Hostile text is answered as JSON that no browser may sniff into HTML.
    for payload in ["'; DROP TABLE conversations; --", "<script>alert(1)</script>"] {
        let body = serde_json::json!({ "message": payload }).to_string();
        let reply = post(port, body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        assert!(reply.head.contains("content-type: application/json"), "{}", reply.head);
        assert!(reply.head.contains("x-content-type-options: nosniff"), "{}", reply.head);
        let json: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(json["reply"].is_string());
    }

    // Still serving after all of it.
    let reply = exchange(port, "GET", "/health", None, b"", None).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn the_gateway_listens_on_loopback_only() {
    let listener = gateway::bind(0).await.unwrap();
    assert_eq!(listener.local_addr().unwrap().ip().to_string(), "127.0.0.1");
}

/// The header reaches the handler from the wire: the same key twice is one model call and two
/// identical replies; a key that is not visible ASCII is refused, not ignored.
#[tokio::test]
async fn an_idempotency_key_is_honoured_over_http() {
    let store = Arc::new(InMemoryConversationStore::new());
    let model = Arc::new(chatbot_core::fakes::ScriptedModel::new("m"));
    let app = ChatApp {
        store: store.clone(),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: model.clone(),
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Disabled,
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    };
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway::serve(listener, Arc::new(app), async move {
        let _ = stopped.await;
    }));
    let send = |key: &'static [u8]| async move {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let body = br#"{"message":"hello"}"#;
        let mut head =
            b"POST /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nIdempotency-Key: ".to_vec();
        head.extend_from_slice(key);
        head.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        stream.write_all(&head).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let status: u16 = String::from_utf8_lossy(&raw[9..12]).parse().unwrap();
        (status, raw[split + 4..].to_vec())
    };
    let (first_status, first) = send(b"retry-me-1").await;
    let (again_status, again) = send(b"retry-me-1").await;
    assert_eq!((first_status, again_status), (200, 200), "{}", String::from_utf8_lossy(&first));
    assert_eq!(first, again);
    assert_eq!(model.prompts().len(), 1, "one model call");
    assert_eq!(store.len(), 2, "two stored messages");

    let (status, body) = send(b"caf\xe9").await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("Idempotency-Key"));
    let _ = stop.send(());
}
