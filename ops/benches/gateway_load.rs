//! Load on the local gateway, wired as the local target wires it: DynamoDB, KMS and SSM on the
//! emulator, the `local/extractive` development model given 50 ms of latency per reply.
//! 20 concurrent clients each hold one conversation of 10 turns: 200 requests.
//!
//! It fails unless there is no 5xx and exactly 400 messages (200 user + 200 assistant) are stored,
//! and prints throughput and latency. Run: `cargo bench -p opsctl --bench gateway_load`
//! (it starts the moto server from `.venv/`, as the tests do).
//!
//! The gateway runs in this process, so this process's peak RSS (VmHWM) is the chat handler's
//! under load, plus the 20 clients' small share; the emulator is a separate process. The last
//! line repeats the figures as `gateway_load key=value…` for scripts/bench.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, Select,
};
use opsctl::local::gateway;
use opsctl::local::wiring::{LocalWiring, chat_app};
use serde_json::{Value, json};
use test_support::moto::Moto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use test_support::proc_status::status_kib;

const CLIENTS: usize = 20;
const TURNS: usize = 10;
const MODEL_LATENCY: Duration = Duration::from_millis(50);
const TOKEN: &str = "load-test-token-0123456789";

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn post(port: u16, body: &str) -> Fallible<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "POST /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no response head")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
    Ok((status, serde_json::from_slice(&raw[split + 4..])?))
}

/// One client: a conversation of `TURNS` messages; each turn's latency and status.
async fn client(port: u16, id: usize) -> Fallible<Vec<(Duration, u16)>> {
    let mut conversation: Option<String> = None;
    let mut out = Vec::with_capacity(TURNS);
    for turn in 0..TURNS {
        let mut body = json!({ "message": format!("client {id} turn {turn}: what did I say before?") });
        if let Some(c) = &conversation {
            body["conversation_id"] = json!(c);
        }
        let started = Instant::now();
        let (status, reply) = post(port, &body.to_string()).await?;
        out.push((started.elapsed(), status));
        if conversation.is_none() {
            conversation = reply["conversation_id"].as_str().map(str::to_owned);
        }
    }
    Ok(out)
}

async fn setup(sdk: &aws_config::SdkConfig) -> Fallible<LocalWiring> {
    let table = format!("chatbot-load-{}", std::process::id());
    let attr = |name: &str| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
    };
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("conversation_id")?)
        .attribute_definitions(attr("timestamp")?)
        .key_schema(key("conversation_id", KeyType::Hash)?)
        .key_schema(key("timestamp", KeyType::Range)?)
        .send()
        .await?;
    let key_id = aws_sdk_kms::Client::new(sdk).create_key().send().await?;
    let key_id = key_id.key_metadata().map(|m| m.key_id().to_owned()).ok_or("no key id")?;
    let token_parameter = format!("/chatbot/load-{}/api-token", std::process::id());
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&token_parameter)
        .value(TOKEN)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await?;
    Ok(LocalWiring {
        environment: "dev".into(),
        table_name: table,
        key_id,
        token_parameter,
        vectors: None,
        model_latency: MODEL_LATENCY,
        ..LocalWiring::default()
    })
}

async fn stored_messages(sdk: &aws_config::SdkConfig, table: &str) -> Fallible<i32> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let (mut total, mut start) = (0, None);
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        total += page.count();
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(total);
        }
    }
}

async fn run() -> Fallible<bool> {
    let sdk = Moto::shared().sdk_config().await;
    let wiring = setup(&sdk).await?;
    let app = Arc::new(chat_app(&sdk, &wiring).await?);
    let listener = gateway::bind(0).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(gateway::serve(listener, app, std::future::pending()));
    let (rss_before, hwm_before) = (status_kib("VmRSS:"), status_kib("VmHWM:"));

    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS).map(|id| tokio::spawn(client(port, id))).collect();
    let mut results = Vec::new();
    for c in clients {
        results.extend(c.await??);
    }
    let wall = started.elapsed();
    let hwm_after = status_kib("VmHWM:");

    let server_errors = results.iter().filter(|(_, s)| *s >= 500).count();
    let other_errors = results.iter().filter(|(_, s)| *s != 200 && *s < 500).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
    let stored = stored_messages(&sdk, &wiring.table_name).await?;
    let requests = results.len();
    println!(
        "gateway_load: {requests} requests, {CLIENTS} concurrent clients, model latency {MODEL_LATENCY:?}"
    );
    println!("  wall time     {:>8.0} ms", wall.as_secs_f64() * 1e3);
    println!("  throughput    {:>8.1} requests/s", requests as f64 / wall.as_secs_f64());
    println!("  latency p50   {:>8.1} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("  latency p99   {:>8.1} ms", pct(0.99).as_secs_f64() * 1e3);
    println!("  latency max   {:>8.1} ms", pct(1.0).as_secs_f64() * 1e3);
    println!("  5xx           {server_errors:>8}");
    println!("  other non-200 {other_errors:>8}");
    println!("  stored        {stored:>8} messages (expected {})", 2 * CLIENTS * TURNS);
    println!(
        "gateway_load requests={requests} clients={CLIENTS} turns={TURNS} model_latency_ms={} \
         wall_ms={:.0} rps={:.1} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} server_errors={server_errors} \
         other_errors={other_errors} stored={stored} rss_before_load_kib={rss_before} \
         hwm_before_load_kib={hwm_before} hwm_after_load_kib={hwm_after}",
        MODEL_LATENCY.as_millis(),
        wall.as_secs_f64() * 1e3,
        requests as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3,
    );
    Ok(server_errors == 0 && other_errors == 0 && stored as usize == 2 * CLIENTS * TURNS)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let outcome = runtime.map_err(Into::into).and_then(|rt| rt.block_on(run()));
    match outcome {
        Ok(true) => println!("  PASS"),
        Ok(false) => {
            println!("  FAIL");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("gateway_load could not run: {e}");
            std::process::exit(1);
        }
    }
}
