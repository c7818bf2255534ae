//! A streamed reply through the local gateway, read off the socket: the development model's words
//! arrive one after another, 50 ms apart, not all at the end; a client that hangs up stops it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::{ReplyStatus, Role};
use chatbot_core::domain::sse::EventParser;
use chatbot_core::fakes::{
    InMemoryConversationStore, InMemoryIdempotencyStore, LocalKeyring, RecordingMetrics, StaticSecret,
};
use chatbot_core::handlers::{ChatApp, ChatSettings};
use chatbot_core::local::extractive::ExtractiveModel;
use chatbot_core::ports::ConversationStore;
use opsctl::local::gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "gateway-token-0123456789";
const WORD_DELAY: Duration = Duration::from_millis(50);

async fn start() -> (u16, Arc<InMemoryConversationStore>) {
    let store = Arc::new(InMemoryConversationStore::new());
    let app = ChatApp {
        store: store.clone(),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: Arc::new(ExtractiveModel::new().with_word_delay(WORD_DELAY)),
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
    tokio::spawn(gateway::serve(listener, Arc::new(app), std::future::pending()));
    (port, store)
}

async fn post_streamed(port: u16, message: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = serde_json::json!({ "message": message }).to_string();
    let head = format!(
        "POST /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
         Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn deltas_come_off_the_socket_one_after_another() {
    let (port, _) = start().await;
    let mut stream = post_streamed(port, "tell me about the weather").await;
    let started = Instant::now();
    let (mut raw, mut buf) = (Vec::new(), [0u8; 4096]);
    let mut parser = EventParser::new();
    let mut head_done = false;
    let mut events: Vec<(String, Duration)> = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("in time")
            .unwrap();
        if n == 0 {
            break;
        }
        let at = started.elapsed();
        let mut chunk = &buf[..n];
        if !head_done {
            raw.extend_from_slice(chunk);
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains("content-type: text/event-stream"), "{head}");
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            head_done = true;
            raw.drain(..end + 4);
            chunk = &[];
        }
        // The chunked framing's size lines are not SSE lines; the parser skips lines it does not
        // know, and every event's own lines arrive whole within one HTTP chunk here.
        let bytes = if raw.is_empty() { chunk.to_vec() } else { std::mem::take(&mut raw) };
        for e in parser.push(&bytes).unwrap() {
            events.push((e.event, at));
        }
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"start"));
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    let deltas: Vec<Duration> = events.iter().filter(|(n, _)| n == "delta").map(|(_, at)| *at).collect();
    assert!(deltas.len() >= 5, "a reply of several words: {names:?}");
    // One word per 50 ms: the last delta comes (n - 1) pauses after the first, and no two come
    // together, as they would if the body were written at the end.
    let spread = deltas[deltas.len() - 1] - deltas[0];
    let pauses = u32::try_from(deltas.len() - 1).unwrap();
    assert!(spread >= WORD_DELAY * pauses * 8 / 10, "{spread:?} for {} deltas", deltas.len());
    for pair in deltas.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(25), "deltas came together: {deltas:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_hangs_up_stops_the_reply_and_its_start_is_kept() {
    let (port, store) = start().await;
    let mut stream = post_streamed(port, "tell me about the weather").await;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.windows(12).filter(|w| w == b"event: delta").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    drop(stream);
    let text = String::from_utf8_lossy(&seen).into_owned();
    let at = text.find("\"conversation_id\":\"").unwrap() + 19;
    let conversation = chatbot_core::domain::message::ConversationId::parse(&text[at..at + 36]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let history = store.recent(&conversation, 10).await.unwrap().messages;
        if let Some(reply) = history.iter().find(|m| m.role == Role::Assistant) {
            assert_eq!(reply.status, Some(ReplyStatus::Stopped));
            break;
        }
        assert!(Instant::now() < deadline, "no stopped reply was stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
