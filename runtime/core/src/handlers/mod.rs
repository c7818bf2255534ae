//! The handlers: plain async functions over the ports, so they run in tests without AWS.
//!
//! [`route`] is the whole HTTP surface of the chat Lambda (and of the local gateway): it takes
//! a transport-neutral [`ApiRequest`] and always returns a response, never an error.

pub mod chat;
pub mod chat_stream;
pub mod conversations;
pub mod documents;
pub mod health;
pub mod idempotency;
pub mod ingest;
pub mod retrieve;
pub mod sign_in;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, header};
use serde::Serialize;

use crate::auth::Authenticator;
use crate::domain::api::DEFAULT_K;
use crate::domain::error::{ApiError, FALLBACK_BODY};
use crate::domain::prompt::{DEFAULT_HISTORY_LENGTH, DEFAULT_HISTORY_TOKENS, DEFAULT_SYSTEM_PROMPT};
use crate::domain::sse;
use crate::ports::{
    ChatModel, Cipher, ConversationStore, IdempotencyStore, MetricsSink, Retriever, SignInCodes,
};
use crate::session;
use crate::web::{self, WebSettings};

pub use chat::chat_turn;

/// What a handler needs of an HTTP request, whatever carried it (a function URL, axum).
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// The query string, without the `?`.
    pub query: Option<String>,
    pub authorization: Option<String>,
    /// The `Idempotency-Key` header, as sent; the handler validates it.
    pub idempotency_key: Option<String>,
    /// The `Accept` header: `text/event-stream` asks for a streamed reply.
    pub accept: Option<String>,
    /// The `Cookie` header: the web app's session rides in it.
    pub cookie: Option<String>,
    /// The [`session::CSRF_HEADER`] header, which a cross-site page cannot send.
    pub csrf: Option<String>,
    /// `Accept-Encoding` and `If-None-Match`, which the web app's assets honour.
    pub accept_encoding: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Bytes,
    pub request_id: String,
}

impl ApiRequest {
    /// The request as a transport hands it over: the parts a handler reads, headers by name.
    pub fn from_http(
        method: Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        body: Bytes,
        request_id: String,
    ) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Self {
            method,
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            authorization: text(header::AUTHORIZATION.as_str()),
            // Lossy rather than dropped: a key that is not visible ASCII must be refused, not ignored.
            idempotency_key: headers
                .get("idempotency-key")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            accept: text(header::ACCEPT.as_str()),
            cookie: text(header::COOKIE.as_str()),
            csrf: text(session::CSRF_HEADER),
            accept_encoding: text(header::ACCEPT_ENCODING.as_str()),
            if_none_match: text(header::IF_NONE_MATCH.as_str()),
            body,
            request_id,
        }
    }
}

/// Who may call: a bearer token (the CLI, scripts), or the web app's session cookie. A request
/// that changes something by cookie must carry the CSRF header as well.
pub async fn authenticate(app: &ChatApp, req: &ApiRequest) -> Result<(), ApiError> {
    if req.authorization.is_some() {
        return app.auth.verify(req.authorization.as_deref()).await;
    }
    let Some(value) = req.cookie.as_deref().and_then(session::from_cookie_header) else {
        return app.auth.verify(None).await;
    };
    app.auth.verify_session(value, session::unix_now()).await?;
    let reads_only = matches!(req.method, Method::GET | Method::HEAD);
    if !reads_only && req.csrf.as_deref().map(str::trim) != Some("1") {
        return Err(ApiError::missing_csrf_header());
    }
    Ok(())
}

pub const DEFAULT_IDEMPOTENCY_LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub history_length: usize,
    /// About how many tokens of history (and the new message) a prompt may carry.
    pub history_tokens: usize,
    pub system_prompt: String,
    /// Passages asked of the retriever when RAG is on.
    pub retrieval_k: usize,
    pub version: String,
    /// How long a request may hold an idempotency key before a repeat may take it over: longer
    /// than the request can run (the chat Lambda's 30 s timeout), so a live request keeps it.
    pub idempotency_lease: Duration,
    /// How long a streamed reply may stay silent before a keep-alive comment is sent.
    pub keep_alive: Duration,
    /// Whether the session cookie is marked `Secure`: the app is served over HTTPS (on AWS).
    pub secure_cookies: bool,
    /// The web app's security headers where it runs.
    pub web: WebSettings,
    /// The embedder retrieval runs, which `/health` names; `None` where the chat function does
    /// not know it (on AWS the retrieval function embeds, with the stack's Titan model).
    pub embedder: Option<String>,
}

pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            history_length: DEFAULT_HISTORY_LENGTH,
            history_tokens: DEFAULT_HISTORY_TOKENS,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_owned(),
            retrieval_k: DEFAULT_K,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            idempotency_lease: DEFAULT_IDEMPOTENCY_LEASE,
            keep_alive: DEFAULT_KEEP_ALIVE,
            secure_cookies: true,
            web: WebSettings { connect_sources: Vec::new(), hsts: true },
            embedder: None,
        }
    }
}

/// Everything a chat turn runs against.
pub struct ChatApp {
    pub store: Arc<dyn ConversationStore>,
    /// The idempotency records; the same table as `store` in AWS.
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub cipher: Arc<dyn Cipher>,
    pub model: Arc<dyn ChatModel>,
    /// `Some` when RAG is on.
    pub retriever: Option<Arc<dyn Retriever>>,
    pub metrics: Arc<dyn MetricsSink>,
    pub auth: Authenticator,
    pub settings: ChatSettings,
    /// The one-time sign-in codes of `opsctl open`: in memory on the local target, in the
    /// conversations table on AWS.
    pub sign_in_codes: Arc<dyn SignInCodes>,
    /// `Some` when RAG is on: the documents API's library and status records.
    pub documents: Option<documents::Documents>,
}

/// A response body: whole, or the events of a streamed reply as the handler produces them.
pub enum ApiBody {
    Full(Vec<u8>),
    /// Ends when the sender drops, after the last event.
    Events(tokio::sync::mpsc::Receiver<Bytes>),
}

/// Like [`route`], but `POST /chat` asking for `text/event-stream` gets the streamed reply. The
/// transports that can stream (the local gateway, the chat Lambda's streaming runner) call this.
pub async fn respond(app: &Arc<ChatApp>, req: &ApiRequest) -> Response<ApiBody> {
    let mut response = unsecured(app, req).await;
    web::secure(&mut response, &app.settings.web);
    response
}

async fn unsecured(app: &Arc<ChatApp>, req: &ApiRequest) -> Response<ApiBody> {
    let is_chat = req.method == Method::POST && matches!(route_of(&req.path), Route::Chat);
    if is_chat && sse::wants_events(req.accept.as_deref()) {
        return match chat_stream::chat_stream(app.clone(), req).await {
            Ok(events) => events_response(events, &req.request_id),
            Err(e) => error_response(&e, &req.request_id).map(ApiBody::Full),
        };
    }
    route(app, req).await.map(ApiBody::Full)
}

fn events_response(events: tokio::sync::mpsc::Receiver<Bytes>, request_id: &str) -> Response<ApiBody> {
    let built = Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, sse::CONTENT_TYPE)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        // Proxies that buffer by default (nginx among them) pass the events on as they come.
        .header("x-accel-buffering", "no")
        .header("x-request-id", request_id)
        .body(());
    match built {
        Ok(r) => r.map(|()| ApiBody::Events(events)),
        Err(_) => error_response(&ApiError::internal(), request_id).map(ApiBody::Full),
    }
}

/// Routes a request to its handler and renders the outcome, errors included.
pub async fn route(app: &ChatApp, req: &ApiRequest) -> Response<Vec<u8>> {
    let id = &req.request_id;
    if let Some(path) = web::app_path(&req.path) {
        let conditions = web::Conditions {
            accept_encoding: req.accept_encoding.as_deref(),
            if_none_match: req.if_none_match.as_deref(),
        };
        return web::serve(&req.method, path, conditions, id).unwrap_or_else(|e| error_response(&e, id));
    }
    let result = match (route_of(&req.path), &req.method) {
        (Route::Chat, &Method::POST) => chat_turn(app, req).await.map(|r| json_response(200, &r, id)),
        (Route::Chat, _) => Err(ApiError::method_not_allowed("POST /chat")),
        (Route::Health, &Method::GET) => Ok(json_response(200, &health::health(app), id)),
        (Route::Health, _) => Err(ApiError::method_not_allowed("GET /health")),
        (Route::Session, _) => sign_in::route(app, req).await,
        (Route::SessionLinks, &Method::POST) => sign_in::mint_link(app, req).await,
        (Route::SessionLinks, _) => Err(ApiError::method_not_allowed("POST /session/links")),
        (Route::Conversations, method) => conversations_route(app, req, None, method).await,
        (Route::Conversation(raw), method) => conversations_route(app, req, Some(raw), method).await,
        (Route::Documents(which), _) => documents::route(app, req, which).await,
        (Route::Unknown, _) => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(|e| error_response(&e, id))
}

async fn conversations_route(
    app: &ChatApp,
    req: &ApiRequest,
    conversation: Option<&str>,
    method: &Method,
) -> Result<Response<Vec<u8>>, ApiError> {
    let id = &req.request_id;
    authenticate(app, req).await?;
    let query = req.query.as_deref();
    let Some(raw) = conversation else {
        return match *method {
            Method::GET => conversations::list(app, query, id).await.map(|p| json_response(200, &p, id)),
            _ => Err(ApiError::method_not_allowed("GET /conversations")),
        };
    };
    let conversation = conversations::parse_id(raw)?;
    match *method {
        Method::GET => {
            conversations::show(app, conversation, query, id).await.map(|p| json_response(200, &p, id))
        }
        Method::PATCH => {
            conversations::rename(app, conversation, &req.body, id).await.map(|s| json_response(200, &s, id))
        }
        Method::DELETE => {
            conversations::delete(app, conversation, id).await?;
            Ok(no_content(id))
        }
        _ => Err(ApiError::method_not_allowed("GET, PATCH or DELETE /conversations/{id}")),
    }
}

/// Which handler a path names. A proxy in front may prefix a base path, so paths match by their end.
enum Route<'a> {
    Chat,
    Health,
    Conversations,
    Conversation(&'a str),
    Session,
    SessionLinks,
    Documents(documents::DocumentsRoute<'a>),
    Unknown,
}

fn route_of(path: &str) -> Route<'_> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        // Before the others: a document may be called `chat.md`, never `chat` (no extension).
        [.., "documents"] => Route::Documents(documents::DocumentsRoute::List),
        [.., "documents", "uploads"] => Route::Documents(documents::DocumentsRoute::Uploads),
        [.., "documents", name] => Route::Documents(documents::DocumentsRoute::One(name)),
        [.., "conversations"] => Route::Conversations,
        [.., "conversations", id] => Route::Conversation(id),
        [.., "chat"] => Route::Chat,
        [.., "health"] => Route::Health,
        [.., "session"] => Route::Session,
        [.., "session", "links"] => Route::SessionLinks,
        _ => Route::Unknown,
    }
}

fn no_content(request_id: &str) -> Response<Vec<u8>> {
    let built = Response::builder()
        .status(204)
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-request-id", request_id)
        .body(Vec::new());
    built.unwrap_or_else(|_| error_response(&ApiError::internal(), request_id))
}

fn builder(status: u16, request_id: &str) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        // Replies may quote the caller's text; a browser must never sniff them into HTML.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header("x-request-id", request_id)
}

pub fn json_response<T: Serialize>(status: u16, body: &T, request_id: &str) -> Response<Vec<u8>> {
    match serde_json::to_vec(body) {
        Ok(bytes) => finish(builder(status, request_id), bytes),
        Err(e) => {
            tracing::error!(request_id, error = %e, "could not serialise a response");
            error_response(&ApiError::internal(), request_id)
        }
    }
}

pub fn error_response(err: &ApiError, request_id: &str) -> Response<Vec<u8>> {
    let mut b = builder(err.status, request_id);
    if let Some(secs) = err.retry_after {
        b = b.header(header::RETRY_AFTER, secs.to_string());
    }
    finish(b, err.body(request_id))
}

fn finish(b: http::response::Builder, body: Vec<u8>) -> Response<Vec<u8>> {
    // The builder only fails on invalid header values, and ours are ASCII we chose or a request
    // id; fall back to a bare 500 rather than panic.
    b.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(FALLBACK_BODY.to_vec());
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
