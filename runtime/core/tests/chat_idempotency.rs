//! `Idempotency-Key` on `POST /chat`, against the in-memory fakes: a repeat is answered from the
//! stored reply, a running one is a 409, another body under the key a 422, a bad key a 400.

use std::sync::Arc;
use std::time::Duration;

use chatbot_core::auth::Authenticator;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::api::ChatRequest;
use chatbot_core::domain::message::{ConversationId, Role};
use chatbot_core::domain::prompt::RetrievedChunk;
use chatbot_core::fakes::*;
use chatbot_core::handlers::idempotency::{key_hash, request_sha256};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{IdempotencyStore, ModelError};
use serde_json::{Value, json};
use time::OffsetDateTime;

struct Harness {
    app: ChatApp,
    store: Arc<InMemoryConversationStore>,
    records: Arc<InMemoryIdempotencyStore>,
    model: Arc<ScriptedModel>,
    retriever: Arc<StaticRetriever>,
}

fn harness() -> Harness {
    let store = Arc::new(InMemoryConversationStore::new());
    let records = Arc::new(InMemoryIdempotencyStore::default());
    let model = Arc::new(ScriptedModel::new("fake-model"));
    let chunk = RetrievedChunk { source: "docs/a.md".into(), chunk: 2, score: 0.5, text: "passage".into() };
    let retriever = Arc::new(StaticRetriever::new(vec![chunk]));
    let app = ChatApp {
        store: store.clone(),
        idempotency: records.clone(),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: model.clone(),
        retriever: Some(retriever.clone()),
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Disabled,
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    };
    Harness { app, store, records, model, retriever }
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn post(h: &Harness, key: Option<&str>, body: &Value) -> Reply {
    let req = ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        authorization: None,
        idempotency_key: key.map(str::to_owned),
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: body.to_string().into(),
        request_id: "req-1".into(),
    };
    let resp = route(&h.app, &req).await;
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    Reply { status: resp.status().as_u16(), retry_after, body: resp.body().clone() }
}

fn hashes(key: &str, body: &Value) -> (String, String) {
    let request = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
    (key_hash(Some(key)).unwrap().unwrap(), request_sha256(&request))
}

#[tokio::test]
async fn a_repeated_key_returns_the_stored_reply_and_calls_the_model_once() {
    let h = harness();
    h.model.then_reply("the only reply");
    let body = json!({"message": "hello"});
    let first = post(&h, Some("key-1"), &body).await;
    assert_eq!(first.status, 200, "{}", first.json());
    let again = post(&h, Some("key-1"), &body).await;
    assert_eq!(again.status, 200, "{}", again.json());
    assert_eq!(first.body, again.body, "the same body, byte for byte");
    assert_eq!(again.json()["reply"], "the only reply");
    assert_eq!(again.json()["citations"][0]["source"], "docs/a.md");
    assert_eq!(h.model.prompts().len(), 1, "one model call");
    assert_eq!(h.retriever.queries().len(), 1, "one search");
    let conv = ConversationId::parse(first.json()["conversation_id"].as_str().unwrap()).unwrap();
    assert_eq!(h.store.stored(&conv).len(), 2, "one user message and one reply");
    assert_eq!(h.store.len(), 2);

    // The stored reply is sealed, not plaintext.
    let (key, _) = hashes("key-1", &body);
    let record = format!("{:?}", h.records.record(&key).unwrap());
    assert!(!record.contains("the only reply"), "{record}");

    // Another key is another turn.
    let other = post(&h, Some("key-2"), &body).await;
    assert_eq!(other.status, 200);
    assert_ne!(other.json()["message_id"], first.json()["message_id"]);
    assert_eq!(h.model.prompts().len(), 2);
}

#[tokio::test]
async fn a_key_still_running_is_a_409_with_retry_after() {
    let h = harness();
    let body = json!({"message": "hello"});
    let (key, sha) = hashes("running", &body);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    h.records.claim(&key, &sha, "the-first-request", now).await.unwrap();
    let r = post(&h, Some("running"), &body).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (409, Some("conflict")), "{}", r.json());
    let secs: u32 = r.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=5).contains(&secs), "{secs}");
    assert!(h.model.prompts().is_empty() && h.store.is_empty());
}

#[tokio::test]
async fn a_record_held_past_its_lease_is_taken_over() {
    let h = harness();
    let body = json!({"message": "hello"});
    let (key, sha) = hashes("stale", &body);
    let long_ago = OffsetDateTime::now_utc().unix_timestamp() - 3600;
    h.records.claim(&key, &sha, "a-timed-out-lambda", long_ago).await.unwrap();
    let r = post(&h, Some("stale"), &body).await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(h.store.len(), 2);
    assert_eq!(post(&h, Some("stale"), &body).await.body, r.body, "and is then replayed");
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_a_422() {
    let h = harness();
    assert_eq!(post(&h, Some("k"), &json!({"message": "first question"})).await.status, 200);
    let r = post(&h, Some("k"), &json!({"message": "another question"})).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("idempotency_key_reused")));
    assert_eq!(h.model.prompts().len(), 1);
    assert_eq!(h.store.len(), 2);
    // The same request serialised differently is the same request.
    let spaced = post(&h, Some("k"), &json!({"message": "first question", "conversation_id": null})).await;
    assert_eq!(spaced.status, 200, "{}", spaced.json());
}

#[tokio::test]
async fn a_malformed_key_is_a_400_and_stores_nothing() {
    let h = harness();
    let long = "k".repeat(256);
    for key in ["", "has space", "tab\there", "caf\u{e9}", long.as_str()] {
        let r = post(&h, Some(key), &json!({"message": "hi"})).await;
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("bad_request")), "{key:?}");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("Idempotency-Key"));
    }
    assert!(h.store.is_empty() && h.records.is_empty() && h.model.prompts().is_empty());
    let longest = "k".repeat(255);
    assert_eq!(post(&h, Some(&longest), &json!({"message": "hi"})).await.status, 200);
}

#[tokio::test]
async fn a_retry_after_a_model_failure_answers_the_stored_message_without_storing_it_again() {
    let h = harness();
    h.model.then_fail(ModelError::Unavailable { retry_after: Duration::from_secs(3), reason: "down".into() });
    let body = json!({"message": "please remember this"});
    let failed = post(&h, Some("retry"), &body).await;
    assert_eq!(failed.status, 503);
    assert_eq!(h.store.len(), 1, "the user message is stored");

    let retried = post(&h, Some("retry"), &body).await;
    assert_eq!(retried.status, 200, "{}", retried.json());
    let conv = ConversationId::parse(retried.json()["conversation_id"].as_str().unwrap()).unwrap();
    let roles: Vec<Role> = h.store.stored(&conv).iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant], "the user message once, then the reply");
    let prompt = h.model.last_prompt().unwrap();
    assert_eq!(prompt.turns.len(), 1);
    assert_eq!(prompt.turns[0].text, "please remember this", "not merged with itself");
    assert_eq!(post(&h, Some("retry"), &body).await.body, retried.body);
}
