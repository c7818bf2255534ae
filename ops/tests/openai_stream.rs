//! The OpenAI-compatible model's streamed replies against a loopback chat-completions server
//! whose body the test writes as it goes: deltas arrive while the server still holds the rest,
//! the end carries the usage and stop reason, and each failure is one error item or, before
//! the body, the error `complete()` would give.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use chatbot_core::domain::api::Usage;
use chatbot_core::domain::message::Role;
use chatbot_core::domain::prompt::{Prompt, Turn};
use chatbot_core::ports::{ChatModel, ModelError, ModelEvent, ModelStream};
use futures_util::StreamExt;
use opsctl::local::openai::OpenAiChatModel;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits for something that should be quick, so a hang fails instead of stalling.
const PATIENCE: Duration = Duration::from_secs(5);

type Item = Result<ModelEvent, ModelError>;

// ---------------------------------------------------------------------------------------------
// The server

enum Reply {
    /// The whole body at once.
    Fixed(String),
    /// Whatever the test sends, as it sends it; the body ends when the sender drops.
    Live(mpsc::UnboundedReceiver<Vec<u8>>),
}

struct Canned {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    reply: Reply,
}

struct Server {
    canned: Mutex<Option<Canned>>,
    seen: Mutex<Vec<Value>>,
}

async fn chat_completions(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    server.seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
    let canned = server.canned.lock().unwrap().take().expect("one request per server");
    let body = match canned.reply {
        Reply::Fixed(text) => Body::from(text),
        Reply::Live(rx) => Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            let bytes = rx.recv().await?;
            Some((Ok::<_, Infallible>(Bytes::from(bytes)), rx))
        })),
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(canned.status).unwrap())
        .header("content-type", "text/event-stream");
    for (name, value) in canned.headers {
        response = response.header(name, value);
    }
    response.body(body).unwrap()
}

/// Starts a server answering one request with `canned`; returns its base URL.
async fn serve(canned: Canned) -> (String, Arc<Server>) {
    let server = Arc::new(Server { canned: Mutex::new(Some(canned)), seen: Mutex::new(Vec::new()) });
    let app = Router::new().route("/v1/chat/completions", post(chat_completions)).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{port}/v1"), server)
}

fn fixed(body: impl Into<String>) -> Canned {
    Canned { status: 200, headers: Vec::new(), reply: Reply::Fixed(body.into()) }
}

fn live() -> (Canned, mpsc::UnboundedSender<Vec<u8>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Canned { status: 200, headers: Vec::new(), reply: Reply::Live(rx) }, tx)
}

// ---------------------------------------------------------------------------------------------
// Chunks

fn chunk(content: Option<&str>, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "llama3.2:latest",
        "choices": [{ "index": 0, "delta": { "content": content }, "finish_reason": finish }]
    });
    format!("data: {chunk}\n\n")
}

fn text(content: &str) -> String {
    chunk(Some(content), None)
}

/// The last chunk `stream_options.include_usage` asks for.
fn usage_chunk(prompt: u32, completion: u32) -> String {
    let usage = json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion });
    format!(
        "data: {}\n\n",
        json!({ "id": "chatcmpl-1", "model": "llama3.2:latest", "choices": [], "usage": usage })
    )
}

const DONE: &str = "data: [DONE]\n\n";

// ---------------------------------------------------------------------------------------------
// The client

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

async fn start(base: &str) -> ModelStream {
    model(base).stream(&prompt()).await.expect("the stream starts")
}

async fn next(reply: &mut ModelStream) -> Option<Item> {
    tokio::time::timeout(PATIENCE, reply.next()).await.expect("the next item arrives")
}

async fn rest(reply: ModelStream) -> Vec<Item> {
    tokio::time::timeout(PATIENCE, reply.collect::<Vec<_>>()).await.expect("the stream ends")
}

async fn all(canned: Canned) -> Vec<Item> {
    let (base, _) = serve(canned).await;
    rest(start(&base).await).await
}

fn delta(text: &str) -> Item {
    Ok(ModelEvent::Delta(text.to_owned()))
}

fn end(stop_reason: &str, usage: Usage) -> Item {
    Ok(ModelEvent::End { model: "openai:llama3.2:latest".into(), stop_reason: stop_reason.into(), usage })
}

fn no_prompt_in(err: &ModelError) {
    let text = err.to_string();
    assert!(!text.contains("secret question"), "the prompt leaked into an error: {text}");
}

// ---------------------------------------------------------------------------------------------
// The reply

#[tokio::test]
async fn deltas_arrive_in_order_while_the_server_still_holds_the_rest() {
    let (canned, tx) = live();
    let (base, server) = serve(canned).await;
    let mut reply = start(&base).await;

    // The role-only chunk and a keep-alive carry no text; the first delta is "Hel".
    tx.send(format!("{}: keep-alive\n\n{}", chunk(None, None), text("Hel")).into_bytes()).unwrap();
    assert_eq!(next(&mut reply).await, Some(delta("Hel")), "received before the server sent the rest");
    tx.send(text("lo").into_bytes()).unwrap();
    assert_eq!(next(&mut reply).await, Some(delta("lo")));

    for part in [text(", world"), chunk(None, Some("stop")), usage_chunk(42, 7), DONE.to_owned()] {
        tx.send(part.into_bytes()).unwrap();
    }
    let items = rest(reply).await;
    assert_eq!(items, [delta(", world"), end("end_turn", Usage { input_tokens: 42, output_tokens: 7 })]);

    let seen = server.seen.lock().unwrap();
    assert_eq!(
        seen[0],
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "secret question one"},
                {"role": "assistant", "content": "answer one"},
                {"role": "user", "content": "secret question two"}
            ],
            "max_tokens": 1024,
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
}

#[tokio::test]
async fn retrieved_documents_open_the_last_user_message_never_the_system_one() {
    let (base, server) =
        serve(fixed([text("ok"), chunk(None, Some("stop")), DONE.to_owned()].concat())).await;
    let prompt = Prompt { documents: Some("[1] the passages, fenced".to_owned()), ..prompt() };
    rest(model(&base).stream(&prompt).await.unwrap()).await;
    let seen = server.seen.lock().unwrap();
    let messages = &seen[0]["messages"];
    assert_eq!(messages[0], json!({"role": "system", "content": "be brief"}));
    assert_eq!(messages[3]["content"], "[1] the passages, fenced\n\nsecret question two");
}

#[tokio::test]
async fn chunks_cut_anywhere_decode_the_same_reply() {
    let body = [text("Grüße, "), text("Welt"), chunk(None, Some("stop")), usage_chunk(3, 2), DONE.to_owned()]
        .concat()
        .replace("\n", "\r\n");
    let (canned, tx) = live();
    let (base, _) = serve(canned).await;
    let reply = start(&base).await;
    // Three-byte pieces split the JSON, the CRLFs and the two bytes of `ü` or `ß`.
    for piece in body.as_bytes().chunks(3) {
        tx.send(piece.to_vec()).unwrap();
    }
    drop(tx);
    let items = rest(reply).await;
    let usage = Usage { input_tokens: 3, output_tokens: 2 };
    assert_eq!(items, [delta("Grüße, "), delta("Welt"), end("end_turn", usage)]);
}

#[tokio::test]
async fn a_finish_reason_then_the_end_of_the_body_ends_the_reply_and_length_is_max_tokens() {
    let body = [text("Once upon"), chunk(None, Some("length"))].concat();
    let items = all(fixed(body)).await;
    assert_eq!(items, [delta("Once upon"), end("max_tokens", Usage::default())]);

    // Ollama puts the usage on the finishing chunk itself; others pass through as given.
    let finishing = json!({
        "model": "llama3.2:latest",
        "choices": [{ "index": 0, "delta": { "content": "!" }, "finish_reason": "content_filter" }],
        "usage": { "prompt_tokens": 5, "completion_tokens": 1 }
    });
    let items = all(fixed(format!("data: {finishing}\n\n{DONE}"))).await;
    assert_eq!(items, [delta("!"), end("content_filter", Usage { input_tokens: 5, output_tokens: 1 })]);
}

#[tokio::test]
async fn done_ends_the_reply_and_nothing_after_it_is_read() {
    let body = [text("Hi"), DONE.to_owned(), text("ignored"), "data: not json\n\n".to_owned()].concat();
    let items = all(fixed(body)).await;
    // `[DONE]` without a finish_reason is an ordinary end of turn; the model falls back to the
    // served one the chunks named.
    assert_eq!(items, [delta("Hi"), end("end_turn", Usage::default())]);

    // Not even a line too long to buffer, right behind `[DONE]`, adds an item after the end.
    let body = [text("Hi"), chunk(None, Some("stop")), DONE.to_owned(), "x".repeat(200 * 1024)].concat();
    assert_eq!(all(fixed(body)).await, [delta("Hi"), end("end_turn", Usage::default())]);
}

#[tokio::test]
async fn a_reply_without_text_is_refused_as_complete_refuses_it() {
    let items = all(fixed([chunk(None, Some("stop")), DONE.to_owned()].concat())).await;
    assert!(
        matches!(&items[..], [Err(ModelError::Failed { reason })] if reason.contains("no text")),
        "{items:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Failures inside the stream: one error item after the deltas, then nothing

#[tokio::test]
async fn the_body_ending_before_any_finish_reason_is_an_error_item() {
    let items = all(fixed([text("Hel"), text("lo")].concat())).await;
    assert_eq!(items[..2], [delta("Hel"), delta("lo")]);
    assert!(
        matches!(&items[2..], [Err(ModelError::Unavailable { reason, .. })] if reason.contains("before the reply finished")),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_malformed_chunk_is_one_error_item_and_ends_the_reply() {
    let body = [text("Hel"), "data: {\"choices\": [\n\n".to_owned(), text("lo"), DONE.to_owned()].concat();
    let items = all(fixed(body)).await;
    assert_eq!(items[0], delta("Hel"));
    assert!(
        matches!(&items[1..], [Err(ModelError::Failed { reason })] if reason.contains("not JSON")),
        "{items:?}"
    );
    no_prompt_in(items[1].as_ref().unwrap_err());
}

#[tokio::test]
async fn an_error_sent_mid_stream_is_one_error_item_quoting_the_server() {
    // OpenAI and vLLM send it as a data chunk; a 5xx code is the server's trouble.
    let oom = json!({ "error": { "message": "CUDA out of memory", "type": "server_error", "code": 500 } });
    let items = all(fixed([text("Hel"), format!("data: {oom}\n\n")].concat())).await;
    assert_eq!(items[0], delta("Hel"));
    assert!(
        matches!(&items[1..], [Err(ModelError::Unavailable { reason, .. })] if reason.contains("CUDA out of memory")),
        "{items:?}"
    );

    // llama.cpp sends an `error:` line; a 4xx code is the request's.
    let ctx = json!({ "error": { "message": "context size exceeded", "code": 400 } });
    let items = all(fixed([text("Hel"), format!("error: {ctx}\n\n")].concat())).await;
    assert!(
        matches!(&items[1..], [Err(ModelError::Failed { reason })] if reason.contains("context size exceeded")),
        "{items:?}"
    );
}

#[tokio::test]
async fn an_endless_line_is_refused_instead_of_buffered() {
    let body = format!("{}data: {}", text("Hel"), "x".repeat(200 * 1024));
    let items = all(fixed(body)).await;
    assert_eq!(items[0], delta("Hel"));
    assert!(
        matches!(&items[1..], [Err(ModelError::Failed { reason })] if reason.contains("KiB")),
        "{items:?}"
    );
}

#[tokio::test]
async fn dropping_the_reply_closes_the_connection() {
    let (canned, tx) = live();
    let (base, _) = serve(canned).await;
    let mut reply = start(&base).await;
    tx.send(text("Hel").into_bytes()).unwrap();
    assert_eq!(next(&mut reply).await, Some(delta("Hel")));
    drop(reply);
    // The server drops the body, and with it the channel, once the connection is gone.
    tokio::time::timeout(PATIENCE, tx.closed()).await.expect("the connection closed");
}

// ---------------------------------------------------------------------------------------------
// Failures before the body: returned by `stream()`, as `complete()` returns them

async fn refused(canned: Canned) -> ModelError {
    let (base, _) = serve(canned).await;
    let err = model(&base).stream(&prompt()).await.err().expect("stream() fails");
    no_prompt_in(&err);
    err
}

fn status(status: u16, headers: Vec<(&'static str, &'static str)>, body: &str) -> Canned {
    Canned { status, headers, reply: Reply::Fixed(body.to_owned()) }
}

#[tokio::test]
async fn status_errors_before_the_body_map_like_complete() {
    let err = refused(status(429, vec![("retry-after", "7")], r#"{"error":{"message":"slow down"}}"#)).await;
    assert_eq!(err, ModelError::Throttled { retry_after: Duration::from_secs(7) });
    let err = refused(status(429, Vec::new(), "{}")).await;
    assert_eq!(err, ModelError::Throttled { retry_after: Duration::from_secs(1) });

    let err = refused(status(503, Vec::new(), r#"{"error":{"message":"loading model"}}"#)).await;
    let ModelError::Unavailable { reason, .. } = err else { panic!("expected Unavailable, got {err:?}") };
    assert!(reason.contains("503") && reason.contains("loading model"), "{reason}");

    let err = refused(status(404, Vec::new(), r#"{"error":{"message":"model 'x' not found"}}"#)).await;
    let ModelError::Failed { reason } = err else { panic!("expected Failed, got {err:?}") };
    assert!(reason.contains("404") && reason.contains("model 'x' not found"), "{reason}");

    // The server's text is quoted, capped as complete() caps it.
    let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "e".repeat(5000));
    let ModelError::Failed { reason } = refused(status(400, Vec::new(), &long)).await else { panic!() };
    assert!(reason.len() < 600, "{} chars", reason.len());
}

#[tokio::test]
async fn a_closed_port_is_unavailable_from_stream() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let base = format!("http://127.0.0.1:{port}/v1");
    let err = model(&base).stream(&prompt()).await.err().expect("stream() fails");
    assert!(matches!(&err, ModelError::Unavailable { reason, .. } if reason.contains("running")), "{err:?}");
}
