//! The chat handler end to end against the in-memory fakes of every port.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::api::Usage;
use chatbot_core::domain::message::{ConversationId, Message, Role, SealedMessage, aad_v1};
use chatbot_core::domain::prompt::{RetrievedChunk, Turn};
use chatbot_core::fakes::*;
use chatbot_core::handlers::chat::{OpenError, open_with};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{Cipher, CipherError, ModelError, Retriever, Sealed};
use http::Method;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

struct Harness {
    app: ChatApp,
    store: Arc<InMemoryConversationStore>,
    model: Arc<ScriptedModel>,
    metrics: Arc<RecordingMetrics>,
    cipher: Arc<EnvelopeCipher<LocalKeyring>>,
}

async fn harness_with(history_length: usize, retriever: Option<Arc<dyn Retriever>>) -> Harness {
    let store = Arc::new(InMemoryConversationStore::new());
    let model = Arc::new(ScriptedModel::new("fake-model"));
    let metrics = Arc::new(RecordingMetrics::default());
    let cipher = Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev")));
    let auth = TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.unwrap();
    let app = ChatApp {
        store: store.clone(),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: cipher.clone(),
        model: model.clone(),
        retriever,
        metrics: metrics.clone(),
        auth: Authenticator::Token(auth),
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings { history_length, ..ChatSettings::default() },
        documents: None,
    };
    Harness { app, store, model, metrics, cipher }
}

async fn harness() -> Harness {
    harness_with(10, None).await
}

fn request(method: Method, path: &str, auth: Option<&str>, body: impl Into<Bytes>) -> ApiRequest {
    ApiRequest {
        method,
        path: path.to_owned(),
        authorization: auth.map(str::to_owned),
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: body.into(),
        request_id: "req-123".to_owned(),
    }
}

fn post(body: impl Into<Bytes>) -> ApiRequest {
    request(Method::POST, "/chat", Some(&format!("Bearer {TOKEN}")), body)
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    json: Value,
}

async fn call(h: &Harness, req: ApiRequest) -> Reply {
    let resp = route(&h.app, &req).await;
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(resp.headers()["content-type"], "application/json");
    let json = serde_json::from_slice(resp.body()).expect("every response is JSON");
    Reply { status: resp.status().as_u16(), retry_after, json }
}

async fn say(h: &Harness, conversation: Option<&str>, message: &str) -> Reply {
    let mut body = json!({ "message": message });
    if let Some(c) = conversation {
        body["conversation_id"] = json!(c);
    }
    call(h, post(body.to_string())).await
}

async fn plaintexts(h: &Harness, conversation: &str) -> Vec<(Role, String)> {
    let conv = ConversationId::parse(conversation).unwrap();
    let mut out = Vec::new();
    for m in h.store.stored(&conv) {
        let sealed = Sealed { blob: m.content.clone(), wrapped_key: m.wrapped_key.clone() };
        let plain = h.cipher.open(&sealed, &m.aad()).await.unwrap();
        out.push((m.role, String::from_utf8(plain.to_vec()).unwrap()));
    }
    out
}

fn turns(t: &[(Role, &str)]) -> Vec<Turn> {
    t.iter().map(|(role, text)| Turn { role: *role, text: (*text).to_owned() }).collect()
}

#[tokio::test]
async fn first_turn_answers_and_stores_both_messages_encrypted() {
    let h = harness().await;
    h.model.then_reply("Hello! How can I help?");
    let r = say(&h, None, "hello there").await;
    assert_eq!(r.status, 200, "{}", r.json);
    let conv = r.json["conversation_id"].as_str().unwrap().to_owned();
    assert!(ConversationId::parse(&conv).is_some());
    assert_eq!(r.json["reply"], "Hello! How can I help?");
    assert_eq!(r.json["model"], "fake-model");
    assert_eq!(r.json["citations"], json!([]));
    assert!(r.json["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r.json["usage"]["output_tokens"], 5);
    assert!(uuid::Uuid::try_parse(r.json["message_id"].as_str().unwrap()).is_ok());

    // The model saw one user turn.
    assert_eq!(h.model.last_prompt().unwrap().turns, turns(&[(Role::User, "hello there")]));
    // Both turns are stored, oldest first, and no stored byte is the plaintext.
    let stored = h.store.stored(&ConversationId::parse(&conv).unwrap());
    assert_eq!(stored.iter().map(|m| m.role).collect::<Vec<_>>(), vec![Role::User, Role::Assistant]);
    for m in &stored {
        assert!(!m.content.windows(5).any(|w| w == b"hello" || w == b"Hello"));
    }
    assert_eq!(stored[1].model.as_deref(), Some("fake-model"));
    assert_eq!(
        plaintexts(&h, &conv).await,
        vec![(Role::User, "hello there".into()), (Role::Assistant, "Hello! How can I help?".into())]
    );
    // A new conversation costs no history query.
    assert_eq!(h.store.queries(), 0);
}

#[tokio::test]
async fn second_turn_prompt_contains_the_first() {
    let h = harness().await;
    h.model.then_reply("You like Rust.").then_reply("Because it is fast.");
    let first = say(&h, None, "I like Rust").await;
    let conv = first.json["conversation_id"].as_str().unwrap().to_owned();
    let second = say(&h, Some(&conv), "Why do I like it?").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json["conversation_id"], conv.as_str());
    assert_eq!(
        h.model.last_prompt().unwrap().turns,
        turns(&[
            (Role::User, "I like Rust"),
            (Role::Assistant, "You like Rust."),
            (Role::User, "Why do I like it?")
        ])
    );
    assert_eq!(plaintexts(&h, &conv).await.len(), 4);
}

#[tokio::test]
async fn history_is_trimmed_to_n_and_starts_with_a_user_turn() {
    let h = harness_with(3, None).await;
    let conv = say(&h, None, "u1").await.json["conversation_id"].as_str().unwrap().to_owned();
    for m in ["u2", "u3"] {
        assert_eq!(say(&h, Some(&conv), m).await.status, 200);
    }
    assert_eq!(say(&h, Some(&conv), "u4").await.status, 200);
    // Stored: u1 a1 u2 a2 u3 a3. The last 3 are a2 u3 a3; a2 cannot lead.
    let prompt = h.model.last_prompt().unwrap();
    assert_eq!(prompt.turns, turns(&[(Role::User, "u3"), (Role::Assistant, "echo: u3"), (Role::User, "u4")]));
}

#[tokio::test]
async fn a_model_failure_keeps_the_user_message() {
    let h = harness().await;
    let conv = say(&h, None, "first").await.json["conversation_id"].as_str().unwrap().to_owned();
    h.model
        .then_fail(ModelError::Unavailable { retry_after: Duration::from_secs(10), reason: "down".into() });
    let r = say(&h, Some(&conv), "please remember this").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json["error"]["code"], "model_unavailable");
    assert_eq!(r.retry_after.as_deref(), Some("10"));
    let stored = plaintexts(&h, &conv).await;
    assert_eq!(stored.last().unwrap(), &(Role::User, "please remember this".to_owned()));

    // The next turn carries the unanswered message, merged so turns still alternate.
    assert_eq!(say(&h, Some(&conv), "are you back?").await.status, 200);
    let prompt = h.model.last_prompt().unwrap();
    assert_eq!(prompt.turns.last().unwrap().text, "please remember this\n\nare you back?");
}

#[tokio::test]
async fn wrong_or_missing_token_is_401_and_stores_nothing() {
    let h = harness().await;
    let body = r#"{"message":"hi"}"#;
    for auth in [None, Some("Bearer nope"), Some(TOKEN), Some("Basic dGVzdA==")] {
        let r = call(&h, request(Method::POST, "/chat", auth, body)).await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.json["error"]["code"], "unauthorized");
    }
    assert!(h.store.is_empty());
    assert!(h.model.prompts().is_empty());
}

#[tokio::test]
async fn every_error_code_has_the_documented_shape() {
    let cases: Vec<(ApiRequest, Option<ModelError>, u16, &str)> = vec![
        (post("{not json"), None, 400, "bad_request"),
        (post(r#"{"message":"hi","extra":1}"#), None, 400, "bad_request"),
        (post(r#"{"message":"hi","conversation_id":"123"}"#), None, 400, "bad_request"),
        (post(r#"{"message":"   "}"#), None, 400, "bad_request"),
        (request(Method::POST, "/chat", None, "{}"), None, 401, "unauthorized"),
        (request(Method::GET, "/nope", None, ""), None, 404, "not_found"),
        (request(Method::GET, "/chat", None, ""), None, 405, "method_not_allowed"),
        (post(json!({"message": "x".repeat(16 * 1024 + 1)}).to_string()), None, 413, "payload_too_large"),
        (
            post(format!(r#"{{"message":"hi","p":"{}"}}"#, "y".repeat(33 * 1024))),
            None,
            413,
            "payload_too_large",
        ),
        (
            post(r#"{"message":"hi"}"#),
            Some(ModelError::Throttled { retry_after: Duration::from_secs(5) }),
            429,
            "rate_limited",
        ),
        (
            post(r#"{"message":"hi"}"#),
            Some(ModelError::Unavailable { retry_after: Duration::from_secs(10), reason: "x".into() }),
            503,
            "model_unavailable",
        ),
        (
            post(r#"{"message":"hi"}"#),
            Some(ModelError::Failed {
                reason: "AccessDeniedException: arn:aws:iam::123456789012:role/chat is not authorized".into(),
            }),
            502,
            "model_unavailable",
        ),
    ];
    for (req, model_error, status, code) in cases {
        let h = harness().await;
        if let Some(e) = model_error {
            h.model.then_fail(e);
        }
        let r = call(&h, req).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str().unwrap()), (status, code), "{}", r.json);
        let err = r.json["error"].as_object().unwrap();
        assert_eq!(err.keys().collect::<Vec<_>>(), vec!["code", "message", "request_id"]);
        assert_eq!(err["request_id"], "req-123");
        let text = r.json.to_string();
        assert!(!text.contains("arn:") && !text.contains("123456789012"), "{text}");
        if matches!(status, 429 | 502 | 503) {
            assert!(r.retry_after.is_some(), "{status} needs Retry-After");
        }
    }

    // 500: the store fails; the caller sees no internals.
    let h = harness().await;
    h.store.fail_appends(true);
    let r = say(&h, None, "hi").await;
    assert_eq!((r.status, r.json["error"]["code"].as_str().unwrap()), (500, "internal"));
    assert!(!r.json.to_string().contains("in-memory"));
    assert!(h.model.prompts().is_empty(), "the model is not called when the message cannot be saved");
}

#[tokio::test]
async fn health_needs_no_token_and_reports_rag() {
    let h = harness().await;
    let r = call(&h, request(Method::GET, "/health", None, "")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["rag_enabled"], false);
    assert_eq!(r.json["version"], env!("CARGO_PKG_VERSION"));
    // A stage prefix from API Gateway still routes.
    assert_eq!(call(&h, request(Method::GET, "/dev/health", None, "")).await.status, 200);

    let rag = harness_with(10, Some(Arc::new(StaticRetriever::new(vec![])))).await;
    assert_eq!(call(&rag, request(Method::GET, "/health", None, "")).await.json["rag_enabled"], true);
}

#[tokio::test]
async fn retrieved_passages_are_cited_and_fenced_in_the_prompt() {
    let chunk = RetrievedChunk {
        source: "docs/resume.md".into(),
        chunk: 3,
        score: 0.82,
        text: "Languages: Rust, Go".into(),
    };
    let retriever = Arc::new(StaticRetriever::new(vec![chunk]));
    let h = harness_with(10, Some(retriever.clone())).await;
    let r = say(&h, None, "What languages do I know?").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["citations"],
        json!([{"source": "docs/resume.md", "chunk": 3, "score": 0.82, "passage": "Languages: Rust, Go"}])
    );
    assert_eq!(retriever.queries(), vec!["What languages do I know?"]);
    let prompt = h.model.last_prompt().unwrap();
    let documents = prompt.documents.unwrap_or_default();
    assert!(
        documents.contains("[1] source: docs/resume.md (chunk 3)\n```\nLanguages: Rust, Go\n```"),
        "{documents}"
    );
    assert!(!prompt.system.contains("Languages: Rust, Go"), "{}", prompt.system);
    assert!(h.metrics.turns()[0].retrieval_latency.is_some());

    retriever.fail(true);
    let r = say(&h, None, "again").await;
    assert_eq!(r.status, 200, "a failed search degrades the answer, not the request");
    assert_eq!(r.json["citations"], json!([]));
    assert!(h.model.last_prompt().unwrap().system.contains("could not be consulted"));
}

#[tokio::test]
async fn metrics_carry_tokens_and_latencies() {
    let h = harness().await;
    h.model.then_reply("one two three");
    say(&h, None, "count my words please").await;
    let m = h.metrics.turns();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].output_tokens, 3);
    assert!(m[0].input_tokens >= 4);
    assert_eq!(m[0].retrieval_latency, None);
}

#[tokio::test]
async fn a_warm_turn_makes_no_key_service_call() {
    let h = harness().await;
    let conv = say(&h, None, "one").await.json["conversation_id"].as_str().unwrap().to_owned();
    let keys = h.cipher.provider().clone();
    let before = keys.calls();
    assert_eq!(say(&h, Some(&conv), "two").await.status, 200);
    assert_eq!(keys.calls(), before, "history decrypts and new encrypts reuse cached keys");
    // The turns report their key-service calls, which `opsctl cost` bills: one data key for the
    // cold first turn, none for the warm second.
    let reported: Vec<u32> = h.metrics.turns().iter().map(|t| t.key_service_requests).collect();
    assert_eq!(reported, [1, 0]);
}

#[tokio::test]
async fn a_garbage_item_and_a_tampered_blob_are_skipped_counted_and_the_turn_answers() {
    let h = harness().await;
    let conv = say(&h, None, "u1").await.json["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(say(&h, Some(&conv), "u2").await.status, 200);
    let id = ConversationId::parse(&conv).unwrap();
    // A foreign item in the partition, and the first reply's content altered.
    h.store.insert_unreadable(
        id,
        "2000-01-01T00:00:00.000000Z#garbage",
        "attribute `role` is missing or not a string",
    );
    let first_reply = h.store.stored(&id)[1].sort_key.clone();
    assert!(h.store.edit(id, &first_reply, |m| *m.content.last_mut().unwrap() ^= 1));

    let r = say(&h, Some(&conv), "u3").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(h.metrics.turns().last().unwrap().history_items_skipped, 2);
    // What is left still alternates and starts with the user: u1 and u2 merge where a1 was.
    assert_eq!(
        h.model.last_prompt().unwrap().turns,
        turns(&[(Role::User, "u1\n\nu2"), (Role::Assistant, "echo: u2"), (Role::User, "u3")])
    );
    assert_eq!(h.metrics.turns()[0].history_items_skipped, 0);
}

type Edit = Box<dyn Fn(&mut SealedMessage)>;

#[tokio::test]
async fn changing_message_id_model_or_token_counts_makes_a_stored_item_fail_to_open() {
    let h = harness().await;
    h.model.then_reply("the reply");
    let conv = say(&h, None, "hello").await.json["conversation_id"].as_str().unwrap().to_owned();
    let reply = h.store.stored(&ConversationId::parse(&conv).unwrap()).remove(1);
    assert!(open_with(h.cipher.as_ref(), reply.clone()).await.is_ok());
    let usage = reply.usage.unwrap();
    let edits: [(&str, Edit); 5] = [
        ("message_id", Box::new(|m| m.message_id = uuid::Uuid::new_v4())),
        ("model", Box::new(|m| m.model = Some("another-model".into()))),
        ("model removed", Box::new(|m| m.model = None)),
        (
            "input_tokens",
            Box::new(move |m| m.usage = Some(Usage { input_tokens: usage.input_tokens + 1, ..usage })),
        ),
        (
            "output_tokens",
            Box::new(move |m| m.usage = Some(Usage { output_tokens: usage.output_tokens + 1, ..usage })),
        ),
    ];
    for (name, edit) in edits {
        let mut m = reply.clone();
        edit(&mut m);
        let err = open_with(h.cipher.as_ref(), m).await.unwrap_err();
        assert!(matches!(err, OpenError::Cipher(CipherError::Authentication)), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn a_v1_blob_still_opens_and_a_v2_blob_relabelled_v1_does_not() {
    let h = harness().await;
    let mut m = Message::new(
        ConversationId::new(),
        Role::User,
        "old message".into(),
        time::OffsetDateTime::now_utc(),
    );
    // As the code before AAD v2 sealed it: version byte 1, AAD `v1|conversation|timestamp|role`.
    let old =
        h.cipher.seal(m.content.as_bytes(), &aad_v1(&m.conversation_id, &m.sort_key, m.role)).await.unwrap();
    let mut blob = old.blob;
    blob[0] = 1;
    let sealed = |content: Vec<u8>, m: &Message| SealedMessage {
        conversation_id: m.conversation_id,
        message_id: m.message_id,
        sort_key: m.sort_key.clone(),
        role: m.role,
        content,
        wrapped_key: old.wrapped_key.clone(),
        model: m.model.clone(),
        usage: m.usage,
        status: m.status,
        citations: None,
    };
    assert_eq!(open_with(h.cipher.as_ref(), sealed(blob, &m)).await.unwrap().content, "old message");

    m.model = Some("m".into());
    let new = h.cipher.seal(m.content.as_bytes(), &m.aad()).await.unwrap();
    assert_eq!(new.blob[0], 2);
    assert!(open_with(h.cipher.as_ref(), sealed(new.blob.clone(), &m)).await.is_ok());
    let mut relabelled = new.blob;
    relabelled[0] = 1;
    assert!(open_with(h.cipher.as_ref(), sealed(relabelled, &m)).await.is_err(), "no downgrade to v1");
}
