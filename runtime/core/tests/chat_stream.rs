//! Streamed `POST /chat` (`Accept: text/event-stream`) against the in-memory fakes: the event
//! order, the failures that still answer JSON, and what is kept when a stream ends early.

use std::sync::Arc;
use std::time::Duration;

use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::{ConversationId, ReplyStatus, Role};
use chatbot_core::domain::prompt::RetrievedChunk;
use chatbot_core::domain::sse::{EventParser, KEEP_ALIVE, StreamEvent};
use chatbot_core::fakes::*;
use chatbot_core::handlers::{ApiBody, ApiRequest, ChatApp, ChatSettings, respond};
use chatbot_core::ports::{Cipher, ModelError, Retriever, Sealed};
use http::Method;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

struct Harness {
    app: Arc<ChatApp>,
    store: Arc<InMemoryConversationStore>,
    model: Arc<ScriptedModel>,
    cipher: Arc<EnvelopeCipher<LocalKeyring>>,
}

async fn harness_with(retriever: Option<Arc<dyn Retriever>>, keep_alive: Duration) -> Harness {
    let store = Arc::new(InMemoryConversationStore::new());
    let model = Arc::new(ScriptedModel::new("fake-model"));
    let cipher = Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev")));
    let auth = TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.unwrap();
    let app = Arc::new(ChatApp {
        store: store.clone(),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: cipher.clone(),
        model: model.clone(),
        retriever,
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Token(auth),
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings { keep_alive, ..ChatSettings::default() },
        documents: None,
    });
    Harness { app, store, model, cipher }
}

async fn harness() -> Harness {
    harness_with(None, Duration::from_secs(15)).await
}

fn streamed(body: Value) -> ApiRequest {
    ApiRequest {
        method: Method::POST,
        path: "/chat".to_owned(),
        authorization: Some(format!("Bearer {TOKEN}")),
        idempotency_key: None,
        accept: Some("text/event-stream".to_owned()),
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: body.to_string().into(),
        request_id: "req-1".to_owned(),
    }
}

/// What a streamed request got: the status, the events in order, and the keep-alives between.
#[derive(Debug)]
struct Received {
    status: u16,
    events: Vec<StreamEvent>,
    keep_alives: usize,
    json: Option<Value>,
}

impl Received {
    fn names(&self) -> Vec<&'static str> {
        self.events.iter().map(StreamEvent::name).collect()
    }

    fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(d) => Some(d.text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn conversation(&self) -> ConversationId {
        match &self.events[0] {
            StreamEvent::Start(s) => ConversationId::parse(&s.conversation_id).unwrap(),
            other => panic!("the stream opens with start, not {other:?}"),
        }
    }
}

async fn send(h: &Harness, req: ApiRequest) -> Received {
    let resp = respond(&h.app, &req).await;
    let status = resp.status().as_u16();
    match resp.into_body() {
        ApiBody::Full(bytes) => Received {
            status,
            events: Vec::new(),
            keep_alives: 0,
            json: Some(serde_json::from_slice(&bytes).expect("a refused stream answers JSON")),
        },
        ApiBody::Events(mut rx) => {
            let (mut parser, mut events, mut keep_alives) = (EventParser::new(), Vec::new(), 0);
            while let Some(chunk) = rx.recv().await {
                if chunk.as_ref() == KEEP_ALIVE {
                    keep_alives += 1;
                }
                for raw in parser.push(&chunk).unwrap() {
                    events.push(StreamEvent::decode(&raw.event, &raw.data).unwrap().unwrap());
                }
            }
            Received { status, events, keep_alives, json: None }
        }
    }
}

/// The stored messages of a conversation, opened: role, text and status.
async fn stored(h: &Harness, conversation: ConversationId) -> Vec<(Role, String, Option<ReplyStatus>)> {
    let mut out = Vec::new();
    for m in h.store.stored(&conversation) {
        let sealed = Sealed { blob: m.content.clone(), wrapped_key: m.wrapped_key.clone() };
        let plain = h.cipher.open(&sealed, &m.aad()).await.expect("stored items open with their AAD");
        out.push((m.role, String::from_utf8(plain.to_vec()).unwrap(), m.status));
    }
    out
}

#[tokio::test]
async fn events_come_in_order_start_deltas_done_and_the_reply_is_stored_complete() {
    let h = harness().await;
    h.model.then_stream(&["Hel", "lo ", "**there**"], Duration::ZERO, ScriptedStream::Ends);
    let r = send(&h, streamed(json!({"message": "hi"}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.names(), ["start", "delta", "delta", "delta", "done"]);
    assert_eq!(r.text(), "Hello **there**");
    let StreamEvent::Done(done) = &r.events[4] else { unreachable!() };
    assert_eq!(done.html, "<p>Hello <strong>there</strong></p>\n", "the whole reply, rendered once");
    assert_eq!(done.model, "fake-model");
    assert_eq!(done.stop_reason, "end_turn");
    let conversation = r.conversation();
    assert_eq!(done.conversation_id, conversation.to_string());
    assert_eq!(
        stored(&h, conversation).await,
        [
            (Role::User, "hi".to_owned(), None),
            (Role::Assistant, "Hello **there**".to_owned(), Some(ReplyStatus::Complete))
        ]
    );
    let reply = &h.store.stored(&conversation)[1];
    assert_eq!(reply.message_id.to_string(), done.message_id, "done names the stored reply");
}

#[tokio::test]
async fn with_rag_on_the_citations_follow_start() {
    let chunk = RetrievedChunk { source: "docs/cv.md".into(), chunk: 2, score: 0.8, text: "Rust".into() };
    let retriever = Arc::new(StaticRetriever::new(vec![chunk]));
    let h = harness_with(Some(retriever), Duration::from_secs(15)).await;
    let r = send(&h, streamed(json!({"message": "languages?"}))).await;
    assert_eq!(r.names(), ["start", "citations", "delta", "done"]);
    let StreamEvent::Citations(c) = &r.events[1] else { unreachable!() };
    assert_eq!(c.citations.len(), 1);
    assert_eq!((c.citations[0].source.as_str(), c.citations[0].chunk), ("docs/cv.md", 2));
    assert_eq!(c.citations[0].passage, "Rust", "the app shows the passage when its mark is clicked");
}

#[tokio::test]
async fn failures_known_before_the_first_byte_answer_json_with_their_status() {
    let h = harness().await;
    let mut no_token = streamed(json!({"message": "hi"}));
    no_token.authorization = None;
    let r = send(&h, no_token).await;
    assert_eq!((r.status, r.json.unwrap()["error"]["code"].as_str()), (401, Some("unauthorized")));

    let r = send(&h, streamed(json!({"message": ""}))).await;
    assert_eq!(r.status, 400);

    let r = send(&h, streamed(json!({"message": "x".repeat(20 * 1024)}))).await;
    assert_eq!(r.status, 413);
    assert_eq!(h.store.len(), 0, "nothing is stored for a refused request");

    h.model.then_fail(ModelError::Throttled { retry_after: Duration::from_secs(7) });
    let req = streamed(json!({"message": "are you there?"}));
    let resp = respond(&h.app, &req).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(h.store.len(), 1, "the user message is kept for a retry");
}

#[tokio::test]
async fn a_model_failing_mid_reply_sends_error_and_keeps_the_partial_reply_as_failed() {
    let h = harness().await;
    let failure =
        ModelError::Unavailable { retry_after: Duration::from_secs(3), reason: "stream broke".into() };
    h.model.then_stream(&["The answer ", "is"], Duration::ZERO, ScriptedStream::Fails(failure));
    let r = send(&h, streamed(json!({"message": "tell me"}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.names(), ["start", "delta", "delta", "error"]);
    let StreamEvent::Error(e) = &r.events[3] else { unreachable!() };
    assert_eq!(e.error.code, "model_unavailable");
    assert_eq!(e.error.request_id, "req-1");
    assert!(!e.error.message.contains("stream broke"), "provider detail stays in the logs");
    assert_eq!(
        stored(&h, r.conversation()).await,
        [
            (Role::User, "tell me".to_owned(), None),
            (Role::Assistant, "The answer is".to_owned(), Some(ReplyStatus::Failed))
        ]
    );
}

#[tokio::test]
async fn a_caller_who_goes_away_stops_the_model_and_the_partial_reply_is_kept_as_stopped() {
    let h = harness().await;
    h.model.then_stream(&["Once ", "upon "], Duration::ZERO, ScriptedStream::Hangs);
    let resp = respond(&h.app, &streamed(json!({"message": "a story"}))).await;
    let ApiBody::Events(mut rx) = resp.into_body() else { panic!("a stream") };
    let mut parser = EventParser::new();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let chunk = rx.recv().await.expect("start and two deltas");
        seen.extend(parser.push(&chunk).unwrap());
    }
    let start: Value = serde_json::from_str(&seen[0].data).unwrap();
    let conversation = ConversationId::parse(start["conversation_id"].as_str().unwrap()).unwrap();
    drop(rx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.store.stored(&conversation).len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the partial reply was never stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.model.streams_dropped(), 1, "generation stopped");
    assert_eq!(
        stored(&h, conversation).await,
        [
            (Role::User, "a story".to_owned(), None),
            (Role::Assistant, "Once upon ".to_owned(), Some(ReplyStatus::Stopped))
        ]
    );
}

#[tokio::test]
async fn a_reply_stopped_before_its_first_word_stores_only_the_user_message() {
    let h = harness().await;
    h.model.then_stream(&[], Duration::ZERO, ScriptedStream::Hangs);
    let resp = respond(&h.app, &streamed(json!({"message": "hello?"}))).await;
    let ApiBody::Events(mut rx) = resp.into_body() else { panic!("a stream") };
    rx.recv().await.expect("start");
    drop(rx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.model.streams_dropped() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the model was never stopped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.store.len(), 1, "only the user message");
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_fill_a_silent_model() {
    let h = harness_with(None, Duration::from_millis(300)).await;
    h.model.then_stream(&["slow ", "reply"], Duration::from_secs(1), ScriptedStream::Ends);
    let r = send(&h, streamed(json!({"message": "take your time"}))).await;
    assert_eq!(r.names(), ["start", "delta", "delta", "done"]);
    assert_eq!(r.keep_alives, 3, "one per 300 ms of a 1 s silence");
}

#[tokio::test]
async fn without_the_accept_header_the_reply_is_the_json_of_before() {
    let h = harness().await;
    h.model.then_stream(&["a ", "b"], Duration::ZERO, ScriptedStream::Ends);
    let mut req = streamed(json!({"message": "hi"}));
    req.accept = Some("application/json".into());
    let r = send(&h, req).await;
    let json = r.json.expect("JSON");
    assert_eq!(r.status, 200);
    assert_eq!(json["reply"], "a b");
    assert_eq!(json.as_object().unwrap().len(), 6, "the same fields as before: {json}");
}

#[tokio::test]
async fn a_repeated_idempotency_key_streams_the_first_reply_again() {
    let h = harness().await;
    h.model.then_stream(&["first ", "answer"], Duration::ZERO, ScriptedStream::Ends);
    let mut req = streamed(json!({"message": "once"}));
    req.idempotency_key = Some("key-1".into());
    let first = send(&h, req.clone()).await;
    let again = send(&h, req).await;
    assert_eq!(again.text(), "first answer");
    let (StreamEvent::Done(a), StreamEvent::Done(b)) =
        (first.events.last().unwrap(), again.events.last().unwrap())
    else {
        panic!("both end with done")
    };
    assert_eq!(a.message_id, b.message_id);
    assert_eq!(h.model.prompts().len(), 1, "the model was called once");
    assert_eq!(h.store.len(), 2);
}
