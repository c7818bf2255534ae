//! The Bedrock ConverseStream adapter against real event-stream frames: served by
//! `aws-smithy-mocks` (the SDK's own deserializer reads them), and once over a loopback socket
//! to see deltas arrive as they are sent and the connection close when the caller drops the
//! reply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamInput;
use aws_sdk_bedrockruntime::types::{ConversationRole, SystemContentBlock};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use chatbot_core::aws::bedrock::BedrockChatModel;
use chatbot_core::domain::api::Usage;
use chatbot_core::domain::message::Role;
use chatbot_core::domain::prompt::{Prompt, Turn};
use chatbot_core::ports::{ChatModel, ModelError, ModelEvent};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const MODEL: &str = "us.anthropic.claude-sonnet-4-6";
/// Long enough for a loaded CI machine, short enough that a hang fails instead of stalling.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Frames

fn frame(headers: &[(&'static str, String)], payload: &Value) -> Vec<u8> {
    let message = headers.iter().fold(Message::new(payload.to_string().into_bytes()), |m, (name, value)| {
        m.add_header(Header::new(*name, HeaderValue::String(value.clone().into())))
    });
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

fn event(event_type: &str, payload: Value) -> Vec<u8> {
    frame(
        &[
            (":message-type", "event".into()),
            (":event-type", event_type.into()),
            (":content-type", "application/json".into()),
        ],
        &payload,
    )
}

fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":message-type", "exception".into()),
            (":exception-type", exception_type.into()),
            (":content-type", "application/json".into()),
        ],
        &json!({ "message": message }),
    )
}

fn start() -> Vec<u8> {
    event("messageStart", json!({ "role": "assistant" }))
}

fn delta(text: &str) -> Vec<u8> {
    event("contentBlockDelta", json!({ "contentBlockIndex": 0, "delta": { "text": text } }))
}

fn block_stop() -> Vec<u8> {
    event("contentBlockStop", json!({ "contentBlockIndex": 0 }))
}

fn stop(reason: &str) -> Vec<u8> {
    event("messageStop", json!({ "stopReason": reason }))
}

fn metadata(input: i32, output: i32) -> Vec<u8> {
    event(
        "metadata",
        json!({
            "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
            "metrics": { "latencyMs": 120 }
        }),
    )
}

/// A whole reply, as Bedrock sends it.
fn whole_reply(texts: &[&str], reason: &str) -> Vec<Vec<u8>> {
    let mut frames = vec![start()];
    frames.extend(texts.iter().map(|t| delta(t)));
    frames.extend([block_stop(), stop(reason), metadata(42, 7)]);
    frames
}

// ---------------------------------------------------------------------------------------------
// Responses and clients

fn stream_response(frames: &[Vec<u8>]) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(frames.concat()));
    r.headers_mut().insert("content-type", "application/vnd.amazon.eventstream");
    r
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

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_bedrockruntime, RuleMode::Sequential, rules, |c| c.retry_config(
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
    ))
}

/// A model whose one ConverseStream call answers `frames`.
fn model_answering(frames: Vec<Vec<u8>>) -> BedrockChatModel {
    let rule = mock!(Client::converse_stream).then_http_response(move || stream_response(&frames));
    BedrockChatModel::new(client(&[&rule]), MODEL, 321)
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

/// Every item of the reply, with a bound so a stream that never ends fails the test.
async fn collect(model: &BedrockChatModel) -> Vec<Result<ModelEvent, ModelError>> {
    let stream = model.stream(&prompt()).await.expect("the stream starts");
    tokio::time::timeout(PATIENCE, stream.collect::<Vec<_>>()).await.expect("the stream ends")
}

fn deltas(texts: &[&str]) -> Vec<Result<ModelEvent, ModelError>> {
    texts.iter().map(|t| Ok(ModelEvent::Delta((*t).to_owned()))).collect()
}

// ---------------------------------------------------------------------------------------------
// The reply

#[tokio::test]
async fn text_deltas_arrive_in_order_then_one_end_with_the_stop_reason_and_usage() {
    let items = collect(&model_answering(whole_reply(&["You ", "like ", "Rust."], "end_turn"))).await;
    let mut expected = deltas(&["You ", "like ", "Rust."]);
    expected.push(Ok(ModelEvent::End {
        model: MODEL.into(),
        stop_reason: "end_turn".into(),
        usage: Usage { input_tokens: 42, output_tokens: 7 },
    }));
    assert_eq!(items, expected);
}

#[tokio::test]
async fn a_reply_cut_at_max_tokens_says_so_in_snake_case() {
    let items = collect(&model_answering(whole_reply(&["Once upon"], "max_tokens"))).await;
    let Some(Ok(ModelEvent::End { stop_reason, .. })) = items.last() else { panic!("{items:?}") };
    assert_eq!(stop_reason, "max_tokens");
}

#[tokio::test]
async fn deltas_that_are_not_text_are_not_part_of_the_reply() {
    let reasoning = event(
        "contentBlockDelta",
        json!({ "contentBlockIndex": 0, "delta": { "reasoningContent": { "text": "hmm" } } }),
    );
    let frames = vec![start(), reasoning, delta("Yes."), block_stop(), stop("end_turn"), metadata(3, 1)];
    let items = collect(&model_answering(frames)).await;
    assert_eq!(items[0], Ok(ModelEvent::Delta("Yes.".into())));
    assert!(matches!(items[1], Ok(ModelEvent::End { .. })), "{items:?}");
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn a_reply_without_any_text_is_refused_as_complete_refuses_it() {
    let items = collect(&model_answering(whole_reply(&[], "end_turn"))).await;
    assert!(
        matches!(&items[..], [Err(ModelError::Failed { reason })] if reason.contains("no text")),
        "{items:?}"
    );
}

#[tokio::test]
async fn the_request_is_the_one_complete_sends_system_prompt_turns_documents_and_max_tokens() {
    let seen: Arc<Mutex<Option<ConverseStreamInput>>> = Arc::default();
    let capture = seen.clone();
    let rule = mock!(Client::converse_stream)
        .match_requests(move |req| {
            *capture.lock().unwrap() = Some(req.clone());
            true
        })
        .then_http_response(|| stream_response(&whole_reply(&["ok"], "end_turn")));
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 321);
    let prompt = Prompt { documents: Some("[1] the passages, fenced".into()), ..prompt() };
    model.stream(&prompt).await.unwrap().collect::<Vec<_>>().await;

    let req = seen.lock().unwrap().clone().expect("request captured");
    assert_eq!(req.model_id(), Some(MODEL));
    assert_eq!(req.system(), &[SystemContentBlock::Text("You are helpful.".into())]);
    let roles: Vec<_> = req.messages().iter().map(|m| m.role().clone()).collect();
    assert_eq!(roles, vec![ConversationRole::User, ConversationRole::Assistant, ConversationRole::User]);
    let blocks = |i: usize| -> Vec<String> {
        req.messages()[i].content().iter().map(|b| b.as_text().unwrap().clone()).collect()
    };
    assert_eq!(blocks(0), ["I like Rust"]);
    assert_eq!(blocks(1), ["Noted."]);
    // The documents open the last user turn as a block of their own, never the system prompt.
    assert_eq!(blocks(2), ["[1] the passages, fenced", "What do I like?"]);
    assert_eq!(req.inference_config().and_then(|c| c.max_tokens()), Some(321));
}

// ---------------------------------------------------------------------------------------------
// Failures before the first event: returned by `stream()`, classified as `complete()` does

#[tokio::test]
async fn throttling_on_send_is_a_throttled_error_from_stream_after_the_sdk_retries() {
    let rule = mock!(Client::converse_stream)
        .sequence()
        .http_response(|| error_response(429, "ThrottlingException", "Too many requests"))
        .repeatedly()
        .build();
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 100);
    let err = model.stream(&prompt()).await.err().expect("stream() fails");
    assert!(matches!(err, ModelError::Throttled { retry_after } if retry_after.as_secs() > 0), "{err:?}");
    assert_eq!(rule.num_calls(), 3, "the SDK made every attempt its retry policy allows");
}

#[tokio::test]
async fn a_throttle_that_clears_on_send_is_retried_by_the_sdk() {
    let rule = mock!(Client::converse_stream)
        .sequence()
        .http_response(|| error_response(429, "ThrottlingException", "Too many requests"))
        .http_response(|| stream_response(&whole_reply(&["ok"], "end_turn")))
        .build();
    let model = BedrockChatModel::new(client(&[&rule]), MODEL, 100);
    let items = collect(&model).await;
    assert_eq!(items[0], Ok(ModelEvent::Delta("ok".into())));
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn access_denied_validation_and_outages_on_send_are_classified_like_complete() {
    let fail = |status: u16, kind: &'static str, message: &'static str| async move {
        let rule = mock!(Client::converse_stream)
            .sequence()
            .http_response(move || error_response(status, kind, message))
            .repeatedly()
            .build();
        BedrockChatModel::new(client(&[&rule]), MODEL, 100).stream(&prompt()).await.err().expect("fails")
    };

    let err = fail(403, "AccessDeniedException", "You don't have access to the model.").await;
    let ModelError::Failed { reason } = err else { panic!("expected Failed, got {err:?}") };
    assert!(reason.contains("model access") && reason.contains(MODEL), "{reason}");
    assert!(reason.contains("bedrock:InvokeModelWithResponseStream"), "names the streaming action: {reason}");

    let err = fail(400, "ValidationException", "messages: must alternate").await;
    assert!(matches!(&err, ModelError::Failed { reason } if reason.contains("must alternate")), "{err:?}");

    let err = fail(404, "ResourceNotFoundException", "Model not found").await;
    assert!(matches!(&err, ModelError::Failed { reason } if reason.contains("MODEL_ID")), "{err:?}");

    let err = fail(503, "ServiceUnavailableException", "unavailable").await;
    assert!(matches!(err, ModelError::Unavailable { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Failures inside the stream: one error item, then nothing

#[tokio::test]
async fn an_exception_mid_stream_gives_the_deltas_then_one_error_item() {
    let cases = [
        ("modelStreamErrorException", "unavailable"),
        ("throttlingException", "throttled"),
        ("serviceUnavailableException", "unavailable"),
        ("internalServerException", "unavailable"),
        ("validationException", "failed"),
    ];
    for (kind, expected) in cases {
        let frames = vec![start(), delta("Hel"), delta("lo"), exception(kind, "the model stopped")];
        let items = collect(&model_answering(frames)).await;
        assert_eq!(items[..2], deltas(&["Hel", "lo"])[..], "{kind}");
        assert_eq!(items.len(), 3, "{kind}: exactly one error item, then the end: {items:?}");
        let got = match &items[2] {
            Err(ModelError::Throttled { .. }) => "throttled",
            Err(ModelError::Unavailable { .. }) => "unavailable",
            Err(ModelError::Failed { .. }) => "failed",
            Ok(other) => panic!("{kind}: expected an error, got {other:?}"),
        };
        assert_eq!(got, expected, "{kind}: {:?}", items[2]);
    }
}

#[tokio::test]
async fn a_stream_that_ends_without_message_stop_is_an_error_item_not_an_end() {
    let items = collect(&model_answering(vec![start(), delta("Hel"), delta("lo")])).await;
    assert_eq!(items[..2], deltas(&["Hel", "lo"])[..]);
    assert!(
        matches!(&items[2..], [Err(ModelError::Unavailable { reason, .. })] if reason.contains("messageStop")),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_connection_cut_inside_a_frame_is_an_error_item() {
    let mut cut = delta("lo");
    cut.truncate(cut.len() / 2);
    let items = collect(&model_answering(vec![start(), delta("Hel"), cut])).await;
    assert_eq!(items[0], Ok(ModelEvent::Delta("Hel".into())));
    assert!(matches!(&items[1..], [Err(ModelError::Unavailable { .. })]), "{items:?}");
}

// ---------------------------------------------------------------------------------------------
// Over a socket: deltas as they are sent, and the connection closed when the reply is dropped

/// Reads one HTTP/1.1 request (head and `content-length` body) and returns its body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed before sending its request");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if buf.len() >= end + 4 + length {
            return buf[end + 4..end + 4 + length].to_vec();
        }
    }
}

async fn write_chunk(socket: &mut tokio::net::TcpStream, data: &[u8]) -> std::io::Result<()> {
    socket.write_all(format!("{:x}\r\n", data.len()).as_bytes()).await?;
    socket.write_all(data).await?;
    socket.write_all(b"\r\n").await?;
    socket.flush().await
}

#[tokio::test]
async fn deltas_arrive_as_bedrock_sends_them_and_dropping_the_reply_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (request_tx, request_rx) = oneshot::channel::<Vec<u8>>();
    let (closed_tx, closed_rx) = oneshot::channel::<bool>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let body = read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        write_chunk(&mut socket, &[start(), delta("Hel")].concat()).await.unwrap();
        request_tx.send(body).unwrap();
        // Hold the rest of the reply: the client must hand over the first delta without it,
        // then drop the reply, which must close the connection (read sees EOF or a reset).
        let mut rest = [0u8; 64];
        let closed =
            matches!(tokio::time::timeout(PATIENCE, socket.read(&mut rest)).await, Ok(Ok(0) | Err(_)));
        closed_tx.send(closed).unwrap();
    });

    // Built from explicit settings, so no AWS_* variable or profile of this machine applies.
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    let model = BedrockChatModel::new(Client::from_conf(conf), MODEL, 100);
    let mut reply = model.stream(&prompt()).await.expect("the stream starts");
    let first = tokio::time::timeout(PATIENCE, reply.next()).await.expect("the first delta arrives early");
    assert_eq!(first, Some(Ok(ModelEvent::Delta("Hel".into()))));

    let body: Value = serde_json::from_slice(&request_rx.await.unwrap()).unwrap();
    assert_eq!(body["system"][0]["text"], "You are helpful.");
    assert_eq!(body["messages"][2]["content"][0]["text"], "What do I like?");
    assert_eq!(body["inferenceConfig"]["maxTokens"], 100);

    drop(reply);
    assert!(closed_rx.await.unwrap(), "dropping the reply closed the connection to Bedrock");
}
