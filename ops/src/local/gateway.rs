//! The local gateway: an axum server on loopback that serves the chat API by calling the very
//! handler the chat Lambda runs ([`chatbot_core::handlers::route`]), as API Gateway would.
//!
//! It binds to 127.0.0.1 only: the local target holds real conversations and a real token, and
//! nothing about it should be reachable from the network by default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use chatbot_core::domain::error::ApiError;
use chatbot_core::handlers::{ApiRequest, ChatApp, error_response, route};
use tokio::net::TcpListener;

/// API Gateway's HTTP API refuses payloads over 10 MB; the handler refuses bodies over 32 KiB
/// with a §4 error. Bodies between the two are read so the handler can give that error; bodies
/// over this bound get the same error without being read.
pub const MAX_READ_BYTES: usize = 2 * 1024 * 1024;

struct Gateway {
    app: Arc<ChatApp>,
    requests: AtomicU64,
}

/// The gateway's routes: every path goes to the handler, which answers 404/405 itself.
pub fn router(app: Arc<ChatApp>) -> Router {
    let state = Arc::new(Gateway { app, requests: AtomicU64::new(0) });
    Router::new().fallback(handle).with_state(state)
}

/// Binds `127.0.0.1:port` (0 picks a free port).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<ChatApp>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let n = gw.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("local-{}-{n}", std::process::id());
    let (parts, body) = req.into_parts();
    let authorization =
        parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || ApiError::payload_too_large("the request body is larger than 32 KiB");
    if declared.is_some_and(|n| n > MAX_READ_BYTES as u64) {
        return into_axum(error_response(&too_large(), &request_id));
    }
    let body = match to_bytes(body, MAX_READ_BYTES).await {
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
    let api = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        authorization,
        body,
        request_id,
    };
    into_axum(route(&gw.app, &api).await)
}

fn into_axum(resp: http::Response<Vec<u8>>) -> Response {
    resp.map(Body::from)
}
