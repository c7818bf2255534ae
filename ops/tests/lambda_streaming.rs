//! The release `bootstrap` of the chat Lambda, as `opsctl package` builds it, under a Lambda
//! Runtime API (2018-06-01) served here that speaks response streaming as Lambda does behind a
//! function URL with InvokeMode RESPONSE_STREAM: the test hands out function URL events and reads
//! each response chunk by chunk as it arrives, timing it. The model is the emulator's Bedrock
//! double through ConverseStream, pausing between words, so a reply that is streamed shows its
//! deltas spread over time and one that is buffered somewhere shows them all at the end.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chatbot_core::domain::sse::EventParser;
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{Moto, isolate};
use tokio::sync::{Mutex, mpsc};

/// The emulator's pause before each streamed word after the first.
const PAUSE: Duration = Duration::from_millis(150);
const ENVIRONMENT: &str = "stream";
const TOKEN: &str = "stream-test-token-0123456789abcdef";
/// Granted by the emulator: templates/main.yaml's default ChatModelId.
const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-6";
const FUNCTION_NAME: &str = "chatbot-chat-stream";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:chatbot-chat-stream";
/// Long enough for a loaded two-core machine, short enough that a hang fails rather than stalls.
const PATIENCE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The release binary

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `opsctl package --arch x86_64`, then the chat zip's `bootstrap`, unpacked into `dir`.
fn release_bootstrap(dir: &Path) -> PathBuf {
    let out = isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
        .current_dir(workspace_root())
        .args(["package", "--arch", "x86_64", "--output", "json"])
        .output()
        .expect("run opsctl package");
    assert!(
        out.status.success(),
        "opsctl package failed (it needs cargo-lambda and zig: `scripts/test` installs them into .venv/):\n{}",
        support::text(&out.stderr)
    );
    let artifacts: Value = serde_json::from_slice(&out.stdout).expect("opsctl package prints JSON");
    let chat = artifacts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["function"] == "chat"))
        .unwrap_or_else(|| panic!("no chat zip in {artifacts}"));
    let zip = std::fs::read(chat["path"].as_str().unwrap()).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut binary = Vec::new();
    archive.by_name("bootstrap").unwrap().read_to_end(&mut binary).unwrap();
    let path = dir.join("bootstrap");
    std::fs::write(&path, binary).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The function's process, killed when the test ends, whether it passed or not.
struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    fn log_tail(&self) -> String {
        let log = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&log[log.len().saturating_sub(4000)..]).into_owned()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Resources {
    table: String,
    key_id: String,
    token_parameter: String,
}

/// What the compute stack gives the chat Lambda: its table, its KMS key and its token.
async fn resources(moto: &Moto) -> Resources {
    let sdk = moto.sdk_config().await;
    let table = test_support::tables::create_table(&sdk).await;
    let key_id = test_support::tables::create_key(&sdk).await;
    let token_parameter = format!("/chatbot/{ENVIRONMENT}/api-token-{}", uuid::Uuid::new_v4().simple());
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(&token_parameter)
        .value(TOKEN)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put the token parameter");
    Resources { table, key_id, token_parameter }
}

/// Starts `bootstrap` as Lambda would: the variables Lambda sets for every function, those the
/// compute stack sets for this one, and nothing from the shell that runs the tests.
fn start_function(bootstrap: &Path, runtime_api: &str, moto: &Moto, r: &Resources, dir: &Path) -> Function {
    let log = dir.join("function.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(bootstrap);
    let child = isolate::isolated(&mut command)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{FUNCTION_NAME}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "lambda-streaming-test")
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_DEFAULT_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("CHATBOT_ENV", ENVIRONMENT)
        .env("TABLE_NAME", &r.table)
        .env("KMS_KEY_ID", &r.key_id)
        .env("MODEL_ID", MODEL_ID)
        .env("API_TOKEN_PARAMETER", &r.token_parameter)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bootstrap.display()));
    Function { child, log }
}

// ---------------------------------------------------------------------------------------------
// The Runtime API

struct Invocation {
    request_id: String,
    event: Value,
}

enum Outcome {
    Response { request_id: String, headers: HeaderMap, chunks: Vec<(Instant, Bytes)> },
    Error { request_id: String, body: String },
    InitError(String),
}

#[derive(Clone)]
struct Api {
    events: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

async fn next(State(api): State<Api>) -> Response {
    // A runtime polls again as soon as it has answered; it waits here until the test sends more.
    let Some(invocation) = api.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + PATIENCE;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("lambda-runtime-aws-request-id", invocation.request_id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.as_millis().to_string().parse().unwrap());
    headers.insert("lambda-runtime-invoked-function-arn", FUNCTION_ARN.parse().unwrap());
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".parse().unwrap(),
    );
    (headers, invocation.event.to_string()).into_response()
}

async fn response(
    State(api): State<Api>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    // Chunk by chunk, as they come off the socket: the times are what the test is about.
    let mut stream = body.into_data_stream();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => chunks.push((Instant::now(), bytes)),
            Err(e) => {
                let body = format!("the response body broke off: {e}");
                let _ = api.outcomes.send(Outcome::Error { request_id, body });
                return StatusCode::BAD_REQUEST;
            }
        }
    }
    let _ = api.outcomes.send(Outcome::Response { request_id, headers, chunks });
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(api): State<Api>,
    UrlPath(request_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = api.outcomes.send(Outcome::Error { request_id, body });
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Api>, body: String) -> StatusCode {
    let _ = api.outcomes.send(Outcome::InitError(body));
    StatusCode::ACCEPTED
}

struct RuntimeApi {
    address: String,
    events: mpsc::UnboundedSender<Invocation>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl RuntimeApi {
    async fn serve() -> RuntimeApi {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let api = Api { events: Arc::new(Mutex::new(events_rx)), outcomes: outcomes_tx };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi { address, events, outcomes }
    }

    /// Sends one event to the function and waits for its whole response.
    async fn invoke(&mut self, function: &Function, event: Value) -> Streamed {
        let request_id = uuid::Uuid::new_v4().to_string();
        let sent = Instant::now();
        self.events.send(Invocation { request_id: request_id.clone(), event }).unwrap();
        let outcome = tokio::time::timeout(PATIENCE, self.outcomes.recv()).await;
        match outcome {
            Ok(Some(Outcome::Response { request_id: answered, headers, chunks })) => {
                assert_eq!(answered, request_id, "the response is for the event handed out");
                Streamed::split(sent, &headers, chunks)
            }
            Ok(Some(Outcome::Error { request_id, body })) => {
                panic!(
                    "the function reported an error for {request_id}: {body}\nits log ends:\n{}",
                    function.log_tail()
                )
            }
            Ok(Some(Outcome::InitError(body))) => {
                panic!("the function failed to start: {body}\nits log ends:\n{}", function.log_tail())
            }
            Ok(None) => panic!("the Runtime API stopped"),
            Err(_) => {
                panic!("no response within {PATIENCE:?}; the function's log ends:\n{}", function.log_tail())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A function URL event and its streamed response

/// A function URL event (HTTP API payload 2.0, routeKey "$default"), as Lambda hands it out.
fn url_event(method: &str, path: &str, body: Option<Value>, accept: Option<&str>) -> Value {
    let mut headers = json!({
        "authorization": format!("Bearer {TOKEN}"),
        "content-type": "application/json",
        "host": "abcdefghij.lambda-url.us-east-1.on.aws",
    });
    if let Some(accept) = accept {
        headers["accept"] = accept.into();
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghij", "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "03/Dec/2026:14:00:00 +0000", "timeEpoch": 1_796_306_400_000i64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// A response as the streaming runner sends it: the JSON prelude, 8 NUL bytes, then the body,
/// each part of the body with the time its chunk arrived.
struct Streamed {
    response_mode: Option<String>,
    prelude: Value,
    body: Vec<(Instant, Bytes)>,
    sent: Instant,
}

const DELIMITER: [u8; 8] = [0; 8];

impl Streamed {
    fn split(sent: Instant, headers: &HeaderMap, chunks: Vec<(Instant, Bytes)>) -> Streamed {
        let response_mode = headers
            .get("lambda-runtime-function-response-mode")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let all: Vec<u8> = chunks.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let at = all.windows(DELIMITER.len()).position(|w| w == DELIMITER).unwrap_or_else(|| {
            panic!("no 8 NUL bytes after the prelude in {:?}", String::from_utf8_lossy(&all))
        });
        let prelude: Value = serde_json::from_slice(&all[..at]).unwrap_or_else(|e| {
            panic!("the prelude is not JSON ({e}): {:?}", String::from_utf8_lossy(&all[..at]))
        });
        // The body's bytes, each chunk keeping its own arrival time.
        let body_start = at + DELIMITER.len();
        let mut offset = 0;
        let mut body = Vec::new();
        for (time, bytes) in chunks {
            let (start, end) = (offset, offset + bytes.len());
            offset = end;
            if end > body_start {
                body.push((time, bytes.slice(body_start.saturating_sub(start)..)));
            }
        }
        Streamed { response_mode, prelude, body, sent }
    }

    fn status(&self) -> u64 {
        self.prelude["statusCode"].as_u64().unwrap_or_else(|| panic!("no statusCode in {}", self.prelude))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.prelude["headers"][name].as_str()
    }

    fn bytes(&self) -> Vec<u8> {
        self.body.iter().flat_map(|(_, b)| b.iter().copied()).collect()
    }

    /// Each event with the time the chunk that completed it arrived.
    fn events(&self) -> Vec<(Instant, String, Value)> {
        let mut parser = EventParser::new();
        let mut out = Vec::new();
        for (at, bytes) in &self.body {
            for raw in parser.push(bytes).expect("events of a sane size") {
                let data = serde_json::from_str(&raw.data).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
                out.push((*at, raw.event, data));
            }
        }
        out
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_release_binary_streams_deltas_one_after_another_through_the_runtime_api() {
    let dir = std::env::temp_dir().join(format!("opsctl-lambda-streaming-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = release_bootstrap(&dir);
    let pause = PAUSE.as_millis().to_string();
    let moto = Moto::with_env(&[("EMULATOR_BEDROCK_STREAM_PAUSE_MS", &pause)]);
    let resources = resources(&moto).await;
    let mut api = RuntimeApi::serve().await;
    let function = start_function(&bootstrap, &api.address, &moto, &resources, &dir);

    // A streamed turn.
    let message = json!({"message": "Say something in a few words."});
    let streamed =
        api.invoke(&function, url_event("POST", "/chat", Some(message), Some("text/event-stream"))).await;
    assert_eq!(streamed.response_mode.as_deref(), Some("streaming"), "the runner streams its response");
    assert_eq!(streamed.status(), 200, "{}", streamed.prelude);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"), "{}", streamed.prelude);
    let events = streamed.events();
    let names: Vec<&str> = events.iter().map(|(_, name, _)| name.as_str()).collect();
    let deltas: Vec<&(Instant, String, Value)> =
        events.iter().filter(|(_, name, _)| name == "delta").collect();
    assert!(
        names.first() == Some(&"start")
            && names.last() == Some(&"done")
            && deltas.len() >= 2
            && names[1..names.len() - 1].iter().all(|n| *n == "delta"),
        "start, then 2 or more deltas, then done: {names:?}"
    );
    let text: String = deltas.iter().map(|(_, _, d)| d["text"].as_str().unwrap()).collect();
    assert!(text.starts_with("pong"), "the model's words, in order: {text:?}");

    let times: Vec<Duration> = deltas.iter().map(|(at, _, _)| at.duration_since(streamed.sent)).collect();
    let done = events.last().map(|(at, _, _)| at.duration_since(streamed.sent)).unwrap();
    let spread = times[times.len() - 1] - times[0];
    let expected = PAUSE * (deltas.len() as u32 - 1);
    eprintln!(
        "deltas arrived at {} after the event was handed out (done at {}); first to last {} for {} pauses of {}",
        times.iter().map(|t| ms(*t)).collect::<Vec<_>>().join(", "),
        ms(done),
        ms(spread),
        deltas.len() - 1,
        ms(PAUSE)
    );
    assert!(times.windows(2).all(|w| w[0] < w[1]), "each delta arrives after the one before: {times:?}");
    assert!(
        spread >= expected / 2,
        "the deltas arrive spread over time, not all at the end: first to last {} against {} of pauses",
        ms(spread),
        ms(expected)
    );
    let conversation_id = events[0].2["conversation_id"].as_str().unwrap().to_owned();

    // A buffered turn to the same process, in the same conversation.
    let message = json!({"conversation_id": conversation_id, "message": "And once more, please."});
    let buffered = api.invoke(&function, url_event("POST", "/chat", Some(message), None)).await;
    assert_eq!(buffered.status(), 200, "{}", buffered.prelude);
    assert_eq!(buffered.header("content-type"), Some("application/json"), "{}", buffered.prelude);
    let reply: Value = serde_json::from_slice(&buffered.bytes())
        .unwrap_or_else(|e| panic!("a JSON body ({e}): {:?}", String::from_utf8_lossy(&buffered.bytes())));
    assert!(reply["reply"].as_str().is_some_and(|r| !r.is_empty()), "{reply}");
    assert_eq!(reply["conversation_id"], conversation_id.as_str(), "{reply}");

    // And the conversation deleted.
    let path = format!("/conversations/{conversation_id}");
    let deleted = api.invoke(&function, url_event("DELETE", &path, None, None)).await;
    assert_eq!(deleted.status(), 204, "{}", deleted.prelude);
    assert!(deleted.bytes().is_empty(), "a 204 has no body");

    drop(function);
    let _ = std::fs::remove_dir_all(&dir);
}
