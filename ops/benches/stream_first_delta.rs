//! Streamed replies: how soon the first delta reaches the caller, and what streaming a long reply
//! costs in memory beside the buffered JSON.
//!
//! 1. In process, with the in-memory fakes and a scripted model whose first delta is ready at
//!    once: from calling `handlers::respond` to holding the first `delta` event.
//! 2. Through the local gateway over loopback HTTP, with `local/extractive` (no word delay): from
//!    sending the request to reading the first `delta` off the socket, minus the model's own time
//!    to its first token, measured on the same prompt beside it.
//! 3. Peak RSS (VmHWM) of a child process that answers one 4,000-token reply (4,000 deltas),
//!    streamed and read as events, against one that answers it buffered as JSON.
//!
//! Run: `cargo bench -p opsctl --bench stream_first_delta`. The last lines repeat the figures as
//! `stream_first_delta key=value…`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatbot_core::auth::Authenticator;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::prompt::{ContextSlot, DEFAULT_SYSTEM_PROMPT, build_prompt};
use chatbot_core::fakes::{
    InMemoryConversationStore, InMemoryIdempotencyStore, LocalKeyring, RecordingMetrics, ScriptedModel,
    ScriptedStream,
};
use chatbot_core::handlers::{ApiBody, ApiRequest, ChatApp, ChatSettings, respond};
use chatbot_core::local::extractive::ExtractiveModel;
use chatbot_core::ports::{ChatModel, ModelEvent};
use futures_util::StreamExt;
use opsctl::local::gateway;
use test_support::proc_status::status_kib;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IN_PROCESS_RUNS: usize = 2_000;
const GATEWAY_RUNS: usize = 300;
const LONG_REPLY_TOKENS: usize = 4_000;
const QUESTION: &str = "What does the weather look like this week?";

fn app(model: Arc<dyn ChatModel>) -> Arc<ChatApp> {
    Arc::new(ChatApp {
        store: Arc::new(InMemoryConversationStore::new()),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model,
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Disabled,
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    })
}

fn request(accept: Option<&str>) -> ApiRequest {
    ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        query: None,
        authorization: None,
        idempotency_key: None,
        accept: accept.map(str::to_owned),
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        body: serde_json::json!({ "message": QUESTION }).to_string().into(),
        request_id: "bench".into(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

async fn in_process() -> (f64, f64) {
    let model = Arc::new(ScriptedModel::new("bench-model"));
    let app = app(model.clone());
    let mut samples = Vec::with_capacity(IN_PROCESS_RUNS);
    for _ in 0..IN_PROCESS_RUNS {
        model.then_stream(&["first ", "second"], Duration::ZERO, ScriptedStream::Ends);
        let started = Instant::now();
        let ApiBody::Events(mut events) =
            respond(&app, &request(Some("text/event-stream"))).await.into_body()
        else {
            panic!("a streamed request gets events");
        };
        while let Some(chunk) = events.recv().await {
            if chunk.starts_with(b"event: delta") {
                samples.push(started.elapsed());
                break;
            }
        }
        // The rest of the reply, so the turn is stored before the next one starts.
        while events.recv().await.is_some() {}
    }
    summary(samples)
}

/// The development model's own time to its first token on the bench's prompt.
async fn model_first_token() -> (f64, f64) {
    let model = ExtractiveModel::new();
    let prompt = build_prompt(DEFAULT_SYSTEM_PROMPT, &[], 10, &ContextSlot::Disabled, QUESTION);
    let mut samples = Vec::with_capacity(GATEWAY_RUNS);
    for _ in 0..GATEWAY_RUNS {
        let started = Instant::now();
        let mut stream = model.stream(&prompt).await.expect("the development model streams");
        match stream.next().await {
            Some(Ok(ModelEvent::Delta(_))) => samples.push(started.elapsed()),
            other => panic!("the first event is a delta, not {other:?}"),
        }
    }
    summary(samples)
}

async fn through_gateway() -> (f64, f64) {
    let listener = gateway::bind(0).await.expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(gateway::serve(listener, app(Arc::new(ExtractiveModel::new())), std::future::pending()));
    let body = serde_json::json!({ "message": QUESTION }).to_string();
    let head = format!(
        "POST /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: text/event-stream\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut samples = Vec::with_capacity(GATEWAY_RUNS);
    for _ in 0..GATEWAY_RUNS {
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("the gateway");
        stream.write_all(head.as_bytes()).await.expect("the request");
        let (mut seen, mut buf) = (Vec::new(), [0u8; 8192]);
        loop {
            let n = stream.read(&mut buf).await.expect("the reply");
            assert!(n > 0, "the stream ended before a delta: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(12).any(|w| w == b"event: delta") {
                samples.push(started.elapsed());
                break;
            }
        }
        let _ = stream.read_to_end(&mut seen).await;
    }
    summary(samples)
}

/// The child's part of 3: one long reply, streamed or buffered, then this process's VmHWM.
async fn long_reply(streamed: bool) {
    let words: Vec<String> = (0..LONG_REPLY_TOKENS).map(|i| format!("w{i:04} ")).collect();
    let deltas: Vec<&str> = words.iter().map(String::as_str).collect();
    let model = Arc::new(ScriptedModel::new("bench-model"));
    model.then_stream(&deltas, Duration::ZERO, ScriptedStream::Ends);
    let app = app(model);
    let before = status_kib("VmHWM:");
    let accept = streamed.then_some("text/event-stream");
    let received = match respond(&app, &request(accept)).await.into_body() {
        ApiBody::Events(mut events) => {
            let mut bytes = 0;
            while let Some(chunk) = events.recv().await {
                bytes += chunk.len();
            }
            bytes
        }
        ApiBody::Full(body) => body.len(),
    };
    println!("child before_kib={before} hwm_kib={} bytes={received}", status_kib("VmHWM:"));
}

fn child(kind: &str) -> (u64, u64) {
    let exe = std::env::current_exe().expect("this bench's path");
    let out = std::process::Command::new(exe).arg("--child").arg(kind).output().expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("child ")).unwrap_or_else(|| panic!("no figures: {text}"));
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {line}"))
    };
    (field("hwm_kib="), field("bytes="))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        long_reply(args.get(i + 1).map(String::as_str) == Some("streamed")).await;
        return;
    }
    let (fp50, fp99) = in_process().await;
    println!(
        "in process, fakes: first delta p50 {fp50:.3} ms, p99 {fp99:.3} ms over {IN_PROCESS_RUNS} turns"
    );
    let (mp50, mp99) = model_first_token().await;
    let (gp50, gp99) = through_gateway().await;
    println!(
        "local gateway: first delta p50 {gp50:.3} ms, p99 {gp99:.3} ms; the model's own first token p50 {mp50:.3} ms, \
         p99 {mp99:.3} ms; the difference at p50 {:.3} ms",
        gp50 - mp50
    );
    let (stream_hwm, stream_bytes) = child("streamed");
    let (buffer_hwm, buffer_bytes) = child("buffered");
    println!(
        "a {LONG_REPLY_TOKENS}-delta reply: peak RSS {:.1} MiB streamed ({stream_bytes} bytes of events), {:.1} MiB \
         buffered ({buffer_bytes} bytes of JSON)",
        stream_hwm as f64 / 1024.0,
        buffer_hwm as f64 / 1024.0
    );
    println!(
        "stream_first_delta in_process_p50_ms={fp50:.3} in_process_p99_ms={fp99:.3} gateway_p50_ms={gp50:.3} \
         gateway_p99_ms={gp99:.3} model_first_token_p50_ms={mp50:.3} gateway_minus_model_p50_ms={:.3} \
         streamed_hwm_kib={stream_hwm} buffered_hwm_kib={buffer_hwm}",
        gp50 - mp50
    );
}
