//! What a chat turn logs. Alone in its test binary because it installs the global subscriber:
//! a thread-scoped one races with other tests over tracing's global callsite cache.

use std::sync::{Arc, Mutex};

use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::fakes::{
    InMemoryConversationStore, LocalKeyring, RecordingMetrics, ScriptedModel, StaticSecret,
};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::ModelError;
use serde_json::{Value, json};

const TOKEN: &str = "log-test-token-0123456789";

/// A writer that keeps what the logger wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn say(app: &ChatApp, body: Value) -> Value {
    let req = ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        authorization: Some(format!("Bearer {TOKEN}")),
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: body.to_string().into(),
        request_id: "req-123".into(),
    };
    serde_json::from_slice(route(app, &req).await.body()).unwrap()
}

#[tokio::test]
async fn logs_carry_ids_and_timings_but_never_content_or_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let model = Arc::new(ScriptedModel::new("fake-model"));
    let store = Arc::new(InMemoryConversationStore::new());
    let app = ChatApp {
        store: store.clone(),
        idempotency: Arc::new(chatbot_core::fakes::InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: model.clone(),
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        auth: Authenticator::Token(
            TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.unwrap(),
        ),
        settings: ChatSettings::default(),
        documents: None,
    };
    model.then_reply("the secret reply text");
    let conv = say(&app, json!({"message": "my private message"})).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    model.then_fail(ModelError::Failed { reason: "boom".into() });
    say(&app, json!({"conversation_id": conv, "message": "another private message"})).await;

    // Two unreadable items: a tampered blob and a foreign item. The turn skips and logs both.
    let id = chatbot_core::domain::message::ConversationId::parse(&conv).unwrap();
    let tampered = store.stored(&id)[0].sort_key.clone();
    assert!(store.edit(id, &tampered, |m| *m.content.last_mut().unwrap() ^= 1));
    store.insert_unreadable(
        id,
        "2000-01-01T00:00:00.000000Z#x",
        "attribute `content` is missing or not binary",
    );
    let third = say(&app, json!({"conversation_id": conv, "message": "a third private message"})).await;
    assert!(third["reply"].is_string(), "{third}");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("\"chat turn\""))
        .unwrap_or_else(|| panic!("no chat turn line in:\n{logs}"));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["conversation_id"], conv.as_str());
    assert_eq!(v["request_id"], "req-123");
    assert!(v["duration_ms"].is_u64() && v["input_tokens"].is_u64() && v["output_tokens"].is_u64());
    assert!(logs.contains("model call failed"), "the failure is logged:\n{logs}");
    let skipped: Vec<Value> =
        logs.lines().filter(|l| l.contains("skipped a")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(skipped.len(), 2, "one line per skipped item:\n{logs}");
    for line in &skipped {
        assert_eq!(line["conversation_id"], conv.as_str(), "{line}");
        assert!(line["sort_key"].is_string() && line["error"].is_string(), "{line}");
    }
    assert_eq!(skipped[0]["sort_key"], "2000-01-01T00:00:00.000000Z#x");
    assert!(skipped[1]["error"].as_str().unwrap().contains("failed authentication"), "{}", skipped[1]);
    for secret in ["private message", "secret reply", TOKEN] {
        assert!(!logs.contains(secret), "logs leak {secret:?}:\n{logs}");
    }
}
