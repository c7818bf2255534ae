//! The Bedrock Converse adapter against `aws-smithy-mocks`: request shape, usage, retries and
//! the mapping of throttling and outages to 429 / 503 with `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::operation::converse::{ConverseInput, ConverseOutput};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput as Output, Message, StopReason, SystemContentBlock,
    TokenUsage,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use chatbot_core::auth::Authenticator;
use chatbot_core::aws::bedrock::BedrockChatModel;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::Role;
use chatbot_core::domain::prompt::{Prompt, Turn};
use chatbot_core::fakes::{InMemoryConversationStore, LocalKeyring, RecordingMetrics};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{ChatModel, ModelError};

const MODEL: &str = "us.anthropic.claude-sonnet-4-6";

fn reply(text: &str) -> ConverseOutput {
    ConverseOutput::builder()
        .output(Output::Message(
            Message::builder()
                .role(ConversationRole::Assistant)
                .content(ContentBlock::Text(text.into()))
                .build()
                .unwrap(),
        ))
        .stop_reason(StopReason::EndTurn)
        .usage(TokenUsage::builder().input_tokens(42).output_tokens(7).total_tokens(49).build().unwrap())
        .build()
        .unwrap()
}

fn error_response(status: u16, error_type: &str, message: &str) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"message":"{message}"}}"#)),
    );
    r.headers_mut().insert("x-amzn-errortype", error_type.to_owned());
    r.headers_mut().insert("content-type", "application/json");
    r
}

fn throttled() -> HttpResponse {
    error_response(429, "ThrottlingException", "Too many requests, please wait before trying again.")
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_bedrockruntime, RuleMode::Sequential, rules, |c| c.retry_config(
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
    ))
}

fn prompt() -> Prompt {
    Prompt {
        system: "You are helpful.".into(),
        turns: vec![
            Turn { role: Role::User, text: "I like Rust".into() },
            Turn { role: Role::Assistant, text: "Noted.".into() },
            Turn { role: Role::User, text: "What do I like?".into() },
        ],
        documents: None,
        sources: Vec::new(),
    }
}

#[tokio::test]
async fn sends_system_prompt_alternating_turns_and_max_tokens() {
    let seen: Arc<Mutex<Option<ConverseInput>>> = Arc::default();
    let capture = seen.clone();
    let rule = mock!(Client::converse)
        .match_requests(move |req| {
            *capture.lock().unwrap() = Some(req.clone());
            true
        })
        .then_output(|| reply("You like Rust."));
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 321);

    let out = model.complete(&prompt()).await.unwrap();
    assert_eq!(out.text, "You like Rust.");
    assert_eq!(out.model, MODEL);
    assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (42, 7));

    let req = seen.lock().unwrap().clone().expect("request captured");
    assert_eq!(req.model_id(), Some(MODEL));
    assert_eq!(req.system(), &[SystemContentBlock::Text("You are helpful.".into())]);
    let roles: Vec<_> = req.messages().iter().map(|m| m.role().clone()).collect();
    assert_eq!(roles, vec![ConversationRole::User, ConversationRole::Assistant, ConversationRole::User]);
    let texts: Vec<_> = req.messages().iter().map(|m| m.content()[0].as_text().unwrap().as_str()).collect();
    assert_eq!(texts, vec!["I like Rust", "Noted.", "What do I like?"]);
    assert_eq!(req.inference_config().and_then(|c| c.max_tokens()), Some(321));
}

#[tokio::test]
async fn retrieved_documents_open_the_last_user_turn_as_their_own_block_never_the_system_prompt() {
    let seen: Arc<Mutex<Option<ConverseInput>>> = Arc::default();
    let capture = seen.clone();
    let rule = mock!(Client::converse)
        .match_requests(move |req| {
            *capture.lock().unwrap() = Some(req.clone());
            true
        })
        .then_output(|| reply("ok"));
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 321);
    let prompt = Prompt { documents: Some("[1] the passages, fenced".into()), ..prompt() };
    model.complete(&prompt).await.unwrap();

    let req = seen.lock().unwrap().clone().expect("request captured");
    assert_eq!(req.system(), &[SystemContentBlock::Text("You are helpful.".into())]);
    let blocks = |i: usize| -> Vec<String> {
        req.messages()[i].content().iter().map(|b| b.as_text().unwrap().clone()).collect()
    };
    assert_eq!(blocks(0), ["I like Rust"]);
    assert_eq!(blocks(2), ["[1] the passages, fenced", "What do I like?"]);
}

#[tokio::test]
async fn a_throttle_that_clears_is_retried_by_the_sdk() {
    let rule = mock!(Client::converse).sequence().http_response(throttled).output(|| reply("ok")).build();
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 100);
    assert_eq!(model.complete(&prompt()).await.unwrap().text, "ok");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn a_throttle_that_never_clears_is_a_429_with_retry_after() {
    let rule = mock!(Client::converse).sequence().http_response(throttled).repeatedly().build();
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 100);
    let err = model.complete(&prompt()).await.unwrap_err();
    assert!(matches!(err, ModelError::Throttled { retry_after } if retry_after.as_secs() > 0), "{err:?}");
    assert_eq!(rule.num_calls(), 3, "the SDK made every attempt its retry policy allows");

    // Through the handler, the caller sees 429 with Retry-After and the user message is kept.
    let store = Arc::new(InMemoryConversationStore::new());
    let app = ChatApp {
        store: store.clone(),
        idempotency: Arc::new(chatbot_core::fakes::InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: Arc::new(model),
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Disabled,
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    };
    let req = ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        authorization: None,
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: r#"{"message":"hello"}"#.into(),
        request_id: "r1".into(),
    };
    let resp = route(&app, &req).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn outages_are_503_and_operator_errors_are_502_with_guidance() {
    let rule = mock!(Client::converse)
        .sequence()
        .http_response(|| error_response(503, "ServiceUnavailableException", "unavailable"))
        .repeatedly()
        .build();
    let err = BedrockChatModel::new(client(&[&rule]), MODEL, 100).complete(&prompt()).await.unwrap_err();
    assert!(matches!(err, ModelError::Unavailable { .. }), "{err:?}");

    let rule = mock!(Client::converse).then_http_response(|| {
        error_response(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        )
    });
    let err = BedrockChatModel::new(client(&[&rule]), MODEL, 100).complete(&prompt()).await.unwrap_err();
    let ModelError::Failed { reason } = err else { panic!("expected Failed, got {err:?}") };
    assert!(reason.contains("model access") && reason.contains(MODEL), "{reason}");

    let rule = mock!(Client::converse)
        .then_http_response(|| error_response(404, "ResourceNotFoundException", "Model not found"));
    let err = BedrockChatModel::new(client(&[&rule]), MODEL, 100).complete(&prompt()).await.unwrap_err();
    assert!(matches!(&err, ModelError::Failed { reason } if reason.contains("MODEL_ID")), "{err:?}");
}
