//! The OpenAI-compatible chat model against a small chat-completions server on loopback: the
//! request it sends, and how each kind of answer maps onto `ModelError`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chatbot_core::domain::api::Usage;
use chatbot_core::domain::message::Role;
use chatbot_core::domain::prompt::{Prompt, Turn};
use chatbot_core::ports::{ChatModel, ModelError};
use opsctl::local::openai::{ModelSpec, OpenAiChatModel};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(5);

struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn canned(status: u16, body: impl Into<String>) -> Canned {
    Canned { status, headers: Vec::new(), body: body.into(), delay: Duration::ZERO }
}

struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct Server {
    canned: Canned,
    seen: Mutex<Vec<Seen>>,
}

async fn chat_completions(
    State(server): State<Arc<Server>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    server.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        authorization: headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()),
        body: serde_json::from_slice(&body).unwrap(),
    });
    let c = &server.canned;
    tokio::time::sleep(c.delay).await;
    let mut out = HeaderMap::new();
    out.insert("content-type", "application/json".parse().unwrap());
    for (name, value) in &c.headers {
        out.insert(*name, value.parse().unwrap());
    }
    (StatusCode::from_u16(c.status).unwrap(), out, c.body.clone())
}

/// Starts the server and returns its base URL (`http://127.0.0.1:PORT/v1`).
async fn serve(canned: Canned) -> (String, Arc<Server>) {
    let server = Arc::new(Server { canned, seen: Mutex::new(Vec::new()) });
    let app = Router::new().route("/v1/chat/completions", post(chat_completions)).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{port}/v1"), server)
}

fn prompt() -> Prompt {
    let turn = |role, text: &str| Turn { role, text: text.to_owned() };
    Prompt {
        system: "be brief".to_owned(),
        turns: vec![
            turn(Role::User, "secret question one"),
            turn(Role::Assistant, "answer one"),
            turn(Role::User, "secret question two"),
        ],
        documents: None,
        sources: Vec::new(),
    }
}

fn model(base: &str) -> OpenAiChatModel {
    OpenAiChatModel::new(base, "llama3.2", TIMEOUT).unwrap()
}

async fn fail_with(canned: Canned) -> ModelError {
    let (base, _) = serve(canned).await;
    let err = model(&base).complete(&prompt()).await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("secret question"), "the prompt leaked into an error: {text}");
    err
}

#[tokio::test]
async fn a_reply_carries_text_usage_and_the_served_model() {
    let body = json!({
        "id": "chatcmpl-1",
        "model": "llama3.2:latest",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there."},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
    });
    let (base, server) = serve(canned(200, body.to_string())).await;
    // A trailing slash must not produce `//chat/completions`.
    let m = model(&format!("{base}/")).with_max_tokens(256);
    assert_eq!(m.id(), "openai:llama3.2");
    let reply = m.complete(&prompt()).await.unwrap();
    assert_eq!(reply.text, "Hi there.");
    assert_eq!(reply.model, "openai:llama3.2:latest");
    assert_eq!(reply.usage, Usage { input_tokens: 42, output_tokens: 7 });

    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].authorization, None);
    assert_eq!(
        seen[0].body,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "secret question one"},
                {"role": "assistant", "content": "answer one"},
                {"role": "user", "content": "secret question two"}
            ],
            "max_tokens": 256,
            "stream": false
        })
    );
}

#[tokio::test]
async fn retrieved_documents_open_the_last_user_message_never_the_system_one() {
    let body = json!({"choices": [{"message": {"role": "assistant", "content": "ok"}}]});
    let (base, server) = serve(canned(200, body.to_string())).await;
    let prompt = Prompt { documents: Some("[1] the passages, fenced".to_owned()), ..prompt() };
    model(&base).complete(&prompt).await.unwrap();
    let seen = server.seen.lock().unwrap();
    let messages = &seen[0].body["messages"];
    assert_eq!(messages[0], json!({"role": "system", "content": "be brief"}));
    assert_eq!(messages[1]["content"], "secret question one");
    assert_eq!(messages[3]["content"], "[1] the passages, fenced\n\nsecret question two");
}

#[tokio::test]
async fn missing_usage_and_model_fall_back() {
    let body = json!({"choices": [{"message": {"content": "ok"}}]});
    let (base, _) = serve(canned(200, body.to_string())).await;
    let reply = model(&base).complete(&prompt()).await.unwrap();
    assert_eq!(reply.model, "openai:llama3.2");
    assert_eq!(reply.usage, Usage::default());
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token() {
    let body = json!({"choices": [{"message": {"content": "ok"}}]});
    let (base, server) = serve(canned(200, body.to_string())).await;
    let m = model(&base).with_api_key(Some("sk-test-123".to_owned()));
    m.complete(&prompt()).await.unwrap();
    assert_eq!(server.seen.lock().unwrap()[0].authorization.as_deref(), Some("Bearer sk-test-123"));
}

#[tokio::test]
async fn a_429_is_throttled_for_its_retry_after() {
    let mut c = canned(429, r#"{"error":{"message":"slow down"}}"#);
    c.headers.push(("retry-after", "7".to_owned()));
    assert_eq!(fail_with(c).await, ModelError::Throttled { retry_after: Duration::from_secs(7) });
    let without = fail_with(canned(429, "{}")).await;
    assert_eq!(without, ModelError::Throttled { retry_after: Duration::from_secs(1) });
}

#[tokio::test]
async fn a_503_is_unavailable() {
    let err = fail_with(canned(503, r#"{"error":{"message":"loading model"}}"#)).await;
    let ModelError::Unavailable { reason, .. } = err else { panic!("expected Unavailable, got {err:?}") };
    assert!(reason.contains("503") && reason.contains("loading model"), "{reason}");
}

#[tokio::test]
async fn an_unknown_model_fails_with_the_servers_message() {
    let err = fail_with(canned(404, r#"{"error":{"message":"model 'x' not found"}}"#)).await;
    let ModelError::Failed { reason } = err else { panic!("expected Failed, got {err:?}") };
    assert!(reason.contains("model 'x' not found") && reason.contains("404"), "{reason}");
}

#[tokio::test]
async fn a_malformed_200_fails_naming_what_is_missing() {
    let err = fail_with(canned(200, r#"{"choices":[]}"#)).await;
    let ModelError::Failed { reason } = err else { panic!("expected Failed, got {err:?}") };
    assert!(reason.contains("choices[0]"), "{reason}");

    let err = fail_with(canned(200, r#"{"choices":[{"message":{"content":null}}]}"#)).await;
    let ModelError::Failed { reason } = err else { panic!("expected Failed, got {err:?}") };
    assert!(reason.contains("choices[0].message.content"), "{reason}");

    let err = fail_with(canned(200, "<html>not json</html>")).await;
    assert!(matches!(&err, ModelError::Failed { reason } if reason.contains("not JSON")), "{err:?}");
}

#[tokio::test]
async fn an_oversized_body_fails() {
    let err = fail_with(canned(200, "x".repeat(5 * 1024 * 1024))).await;
    assert!(matches!(&err, ModelError::Failed { reason } if reason.contains("MiB")), "{err:?}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable_and_names_the_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let base = format!("http://127.0.0.1:{port}/v1");
    let err = model(&base).complete(&prompt()).await.unwrap_err();
    let ModelError::Unavailable { reason, .. } = err else { panic!("expected Unavailable, got {err:?}") };
    assert!(reason.contains(&base) && reason.contains("running"), "{reason}");
    assert!(reason.contains("onnection refused"), "the cause should be kept: {reason}");
}

#[tokio::test]
async fn a_slow_server_times_out_as_unavailable() {
    let mut c = canned(200, r#"{"choices":[{"message":{"content":"late"}}]}"#);
    c.delay = Duration::from_secs(3);
    let (base, _) = serve(c).await;
    let m = OpenAiChatModel::new(&base, "llama3.2", Duration::from_millis(200)).unwrap();
    let err = m.complete(&prompt()).await.unwrap_err();
    let ModelError::Unavailable { reason, .. } = err else { panic!("expected Unavailable, got {err:?}") };
    assert!(reason.contains("did not answer"), "{reason}");
}

#[test]
fn model_specs_parse_and_round_trip() {
    assert_eq!("local".parse::<ModelSpec>().unwrap(), ModelSpec::Local);
    assert_eq!(ModelSpec::default(), ModelSpec::Local);
    for given in [
        "local",
        "openai:http://127.0.0.1:11434/v1#llama3.2",
        "openai:https://models.internal:8443/v1/#hf.co/org/model:Q4_K_M",
    ] {
        let spec: ModelSpec = given.parse().unwrap();
        assert_eq!(spec.to_string(), given);
        let stored = serde_json::to_value(&spec).unwrap();
        assert_eq!(stored, Value::String(given.to_owned()));
        assert_eq!(serde_json::from_value::<ModelSpec>(stored).unwrap(), spec);
    }
    assert_eq!(
        "openai:http://127.0.0.1:11434/v1#llama3.2".parse::<ModelSpec>().unwrap(),
        ModelSpec::OpenAi { base_url: "http://127.0.0.1:11434/v1".into(), model: "llama3.2".into() }
    );
}

#[test]
fn bad_model_specs_say_what_the_right_shape_is() {
    for (given, says) in [
        ("openai:http://127.0.0.1:11434/v1", "`#<model>`"),
        ("openai:http://127.0.0.1:11434/v1#", "empty"),
        ("openai:ftp://127.0.0.1/v1#m", "http://"),
        ("openai:127.0.0.1:11434#m", "http://"),
        ("openai:not a url#m", "not a URL"),
        ("openai:http://user:pw@127.0.0.1/v1#m", "OPENAI_API_KEY"),
        ("ollama", "unknown"),
        ("", "unknown"),
    ] {
        let err = given.parse::<ModelSpec>().unwrap_err().to_string();
        assert!(err.contains(says), "{given:?}: {err}");
        assert!(err.contains("openai:<base-url>#<model>"), "{given:?}: {err}");
        assert!(!err.contains("pw@"), "a credential leaked into the error: {err}");
    }
    assert!(serde_json::from_value::<ModelSpec>(json!("openai:nope")).is_err());
}
