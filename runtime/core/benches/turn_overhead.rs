//! In-process overhead of one chat turn with in-memory fakes: validation, a history of ten
//! messages decrypted, prompt building, two messages encrypted and stored. The model answers
//! instantly, so what is measured is our own code. Target: p50 under 1 ms.
//!
//! Prints p50/p90/p99 of single turns first (also as one `turn_overhead p50_us=…` line for
//! scripts/bench), then runs the criterion groups.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::api::ChatRequest;
use chatbot_core::domain::message::{ConversationId, Message, Role};
use chatbot_core::domain::prompt::{ContextSlot, DEFAULT_SYSTEM_PROMPT, build_prompt};
use chatbot_core::fakes::{
    InMemoryConversationStore, LocalKeyring, RecordingMetrics, ScriptedModel, StaticSecret,
};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::Cipher;
use criterion::Criterion;
use time::OffsetDateTime;
use tokio::runtime::Runtime;

const TOKEN: &str = "bench-token";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// An app whose conversation already holds ten messages, and a request continuing it.
fn setup(rt: &Runtime) -> (ChatApp, ApiRequest) {
    rt.block_on(async {
        let auth = TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.expect("token");
        let app = ChatApp {
            store: Arc::new(InMemoryConversationStore::new()),
            idempotency: Arc::new(chatbot_core::fakes::InMemoryIdempotencyStore::default()),
            cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("bench"))),
            model: Arc::new(ScriptedModel::new("bench-model")),
            retriever: None,
            metrics: Arc::new(RecordingMetrics::default()),
            auth: Authenticator::Token(auth),
            sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
            settings: ChatSettings::default(),
            documents: None,
        };
        let mut conv: Option<String> = None;
        for i in 0..5 {
            let mut body =
                serde_json::json!({"message": format!("message number {i} with a few more words in it")});
            if let Some(c) = &conv {
                body["conversation_id"] = serde_json::Value::String(c.clone());
            }
            let resp = route(&app, &request(body.to_string())).await;
            let v: serde_json::Value = serde_json::from_slice(resp.body()).expect("json");
            conv = v["conversation_id"].as_str().map(str::to_owned);
        }
        let body = serde_json::json!({
            "conversation_id": conv,
            "message": "What did I say in my second message? Please answer in one sentence."
        });
        (app, request(body.to_string()))
    })
}

fn request(body: String) -> ApiRequest {
    ApiRequest {
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
        body: body.into(),
        request_id: "bench".into(),
    }
}

fn percentiles(rt: &Runtime) {
    let (app, req) = setup(rt);
    let mut samples: Vec<Duration> = Vec::with_capacity(5_000);
    rt.block_on(async {
        for _ in 0..500 {
            route(&app, &req).await;
        }
        for _ in 0..5_000 {
            let t = Instant::now();
            let resp = route(&app, &req).await;
            samples.push(t.elapsed());
            assert_eq!(resp.status(), 200);
        }
    });
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "chat turn overhead (10 history decrypts, 2 encrypts, fakes): p50 {:?}  p90 {:?}  p99 {:?}  n={}",
        at(0.50),
        at(0.90),
        at(0.99),
        samples.len()
    );
    // One key=value line for scripts/bench, which builds BENCHMARKS.md from it.
    let us = |p: f64| at(p).as_secs_f64() * 1e6;
    println!(
        "turn_overhead p50_us={:.1} p90_us={:.1} p99_us={:.1} n={}",
        us(0.50),
        us(0.90),
        us(0.99),
        samples.len()
    );
}

fn benches(c: &mut Criterion, rt: &Runtime) {
    let (app, req) = setup(rt);
    c.bench_function("chat_turn/history10", |b| b.iter(|| rt.block_on(route(&app, black_box(&req)))));

    c.bench_function("validate_request", |b| b.iter(|| ChatRequest::parse(black_box(&req.body))));

    let conv = ConversationId::new();
    let history: Vec<Message> = (0..10)
        .map(|i| {
            let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
            Message::new(
                conv,
                role,
                format!("history message {i} with some words"),
                OffsetDateTime::now_utc(),
            )
        })
        .collect();
    c.bench_function("build_prompt/history10", |b| {
        b.iter(|| {
            build_prompt(DEFAULT_SYSTEM_PROMPT, black_box(&history), 10, &ContextSlot::Disabled, "next")
        })
    });

    let cipher = EnvelopeCipher::new(LocalKeyring::new("bench"));
    let sealed = rt.block_on(cipher.seal(&[b'x'; 400], b"aad")).expect("seal");
    c.bench_function("seal/400B", |b| b.iter(|| rt.block_on(cipher.seal(black_box(&[b'x'; 400]), b"aad"))));
    c.bench_function("open/400B", |b| b.iter(|| rt.block_on(cipher.open(black_box(&sealed), b"aad"))));
}

fn main() {
    let rt = runtime();
    percentiles(&rt);
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &rt);
    c.final_summary();
}
