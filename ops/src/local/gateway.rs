//! The local gateway: an axum server on loopback that serves the chat API by calling the very
//! handler the chat Lambda runs ([`chatbot_core::handlers::respond`]), streamed replies included.
//!
//! It binds to 127.0.0.1 only: the local target holds real conversations and a real token, and
//! nothing about it should be reachable from the network by default.
//!
//! With RAG on it also stands in for the bucket's notification to the ingestion Lambda:
//! [`INGEST_PATH`] takes the S3 event `opsctl docs` builds and runs the ingestion handler on it,
//! against the same vector index the chat turns search. It needs the API token like the chat API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use chatbot_core::domain::document_event::parse_event;
use chatbot_core::domain::error::ApiError;
use chatbot_core::domain::extract::ExtractLimits;
use chatbot_core::handlers::ingest::{IngestApp, handle_events, lambda_result};
use chatbot_core::handlers::{ApiBody, ApiRequest, ChatApp, error_response, json_response, respond};
use tokio::net::TcpListener;
use tracing::Instrument;

use super::metrics::LocalMetrics;
use crate::functions::Function;

/// Where the gateway takes S3 notification events for the ingestion handler.
pub const INGEST_PATH: &str = "/_local/ingest";

/// A function URL refuses request payloads over Lambda's 6 MB; the handler refuses bodies over
/// 32 KiB with a `payload_too_large` error. Bodies between the two are read so the handler can give that error; bodies
/// over this bound get the same error without being read.
pub const MAX_READ_BYTES: usize = 2 * 1024 * 1024;

/// What the gateway runs in place of the Lambdas.
pub struct Services {
    pub chat: Arc<ChatApp>,
    /// With RAG on: the ingestion handler, behind [`INGEST_PATH`].
    pub ingest: Option<Arc<IngestApp>>,
    /// The metrics AWS would publish for these requests, when they are published.
    pub metrics: Option<Arc<LocalMetrics>>,
}

impl From<Arc<ChatApp>> for Services {
    fn from(chat: Arc<ChatApp>) -> Self {
        Self { chat, ingest: None, metrics: None }
    }
}

struct Gateway {
    services: Services,
    requests: AtomicU64,
}

/// The gateway's routes: every path goes to the handler, which answers 404/405 itself.
pub fn router(services: impl Into<Services>) -> Router {
    let state = Arc::new(Gateway { services: services.into(), requests: AtomicU64::new(0) });
    Router::new().fallback(handle).with_state(state)
}

/// Binds `127.0.0.1:port` (0 picks a free port).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    services: impl Into<Services>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(services)).with_graceful_shutdown(shutdown).await
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let ingest = req.uri().path() == INGEST_PATH;
    let n = gw.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("local-{}-{n}", std::process::id());
    // The span names the function a log line belongs to, as its log group does on AWS.
    let span = tracing::info_span!("lambda", function = if ingest { "ingest" } else { "chat" }, request_id = %request_id);
    let (method, path) = (req.method().clone(), req.uri().path().chars().take(100).collect::<String>());
    let response = handle_request(&gw, req, request_id.clone()).instrument(span.clone()).await;
    // Lambda's REPORT line, for every request, the refused ones too.
    span.in_scope(|| {
        tracing::info!(
            %method,
            path,
            status = response.status().as_u16(),
            duration_ms = (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0,
            "request done"
        );
    });
    if let Some(m) = &gw.services.metrics {
        let elapsed = started.elapsed();
        if ingest {
            let failed = response.status().is_server_error();
            m.lambda(Function::Ingest, elapsed, failed);
        } else {
            m.api(response.status().as_u16(), elapsed);
            m.lambda(Function::Chat, elapsed, false);
        }
    }
    response
}

async fn handle_request(gw: &Gateway, req: Request, request_id: String) -> Response {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A PUT is a document's upload (only `PUT /documents/{name}` takes one): up to ingestion's limit.
    let upload = parts.method == http::Method::PUT;
    let limit = if upload { ExtractLimits::default().max_bytes } else { MAX_READ_BYTES as u64 };
    let too_large = || match upload {
        true => ApiError::payload_too_large(format!("ingestion reads documents of up to {limit} bytes")),
        false => ApiError::payload_too_large("the request body is larger than 32 KiB"),
    };
    if declared.is_some_and(|n| n > limit) {
        return into_axum(error_response(&too_large(), &request_id));
    }
    let body = match to_bytes(body, usize::try_from(limit).unwrap_or(MAX_READ_BYTES)).await {
        Ok(bytes) => bytes,
        // A chunked body can still run past the bound; anything else is a body cut short.
        Err(e) if e.to_string().contains("length limit") => {
            return into_axum(error_response(&too_large(), &request_id));
        }
        Err(_) => {
            let err = ApiError::bad_request("the request body could not be read in full");
            return into_axum(error_response(&err, &request_id));
        }
    };
    let api = ApiRequest::from_http(parts.method, &parts.uri, &parts.headers, body, request_id);
    if api.path == INGEST_PATH {
        return into_axum(ingest(gw, &api).await);
    }
    respond(&gw.services.chat, &api).await.map(|body| match body {
        ApiBody::Full(bytes) => Body::from(bytes),
        // Each event is written as the handler sends it: axum flushes every chunk.
        ApiBody::Events(events) => {
            Body::from_stream(futures_util::stream::unfold(events, |mut events| async {
                events.recv().await.map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), events))
            }))
        }
    })
}

/// Runs the ingestion handler on an S3 event, as the bucket's notification would on AWS. A
/// failure a retry could fix answers 503, as a failed asynchronous invocation would be retried.
async fn ingest(gw: &Gateway, req: &ApiRequest) -> http::Response<Vec<u8>> {
    let id = &req.request_id;
    if req.method != http::Method::POST {
        return error_response(&ApiError::method_not_allowed("POST /_local/ingest"), id);
    }
    if let Err(e) = gw.services.chat.auth.verify(req.authorization.as_deref()).await {
        return error_response(&e, id);
    }
    let Some(app) = &gw.services.ingest else {
        return error_response(&ApiError::not_found(), id);
    };
    let event = match serde_json::from_slice(&req.body) {
        Ok(event) => event,
        Err(e) => return error_response(&ApiError::bad_request(format!("the event is not JSON: {e}")), id),
    };
    let events = match parse_event(&event) {
        Ok(events) => events,
        Err(e) => return error_response(&ApiError::bad_request(e.to_string()), id),
    };
    match lambda_result(&handle_events(app, &events).await) {
        Ok(body) => json_response(200, &body, id),
        Err(reason) => {
            let body =
                serde_json::json!({"error": {"code": "ingest_failed", "message": reason, "request_id": id}});
            json_response(503, &body, id)
        }
    }
}

fn into_axum(resp: http::Response<Vec<u8>>) -> Response {
    resp.map(Body::from)
}
