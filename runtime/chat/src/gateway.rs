//! Translates between function URL events (HTTP API payload 2.0) and the transport-neutral
//! handlers, and gives every response a body the streaming runner can send.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use chatbot_core::handlers::{ApiBody, ApiRequest, ChatApp, respond};
use http_body::Frame;
use lambda_http::{Request, RequestExt, Response};

pub async fn handle(app: Arc<ChatApp>, req: Request) -> Result<Response<ReplyBody>, Infallible> {
    let api = to_api_request(req);
    Ok(respond(&app, &api).await.map(ReplyBody::from))
}

/// What the streaming runner sends after the response's metadata: a whole body as one chunk
/// (JSON replies and errors), or each event as the handler sends it. Dropping it, as the runner
/// does when the client goes away, closes the events' channel, which stops the reply.
#[derive(Debug)]
pub enum ReplyBody {
    Whole(Option<Bytes>),
    Events(tokio::sync::mpsc::Receiver<Bytes>),
}

impl From<ApiBody> for ReplyBody {
    fn from(body: ApiBody) -> Self {
        match body {
            // An empty body (a 204) sends no chunk at all: Lambda still sends the status.
            ApiBody::Full(bytes) => Self::Whole(Some(Bytes::from(bytes)).filter(|b| !b.is_empty())),
            ApiBody::Events(events) => Self::Events(events),
        }
    }
}

impl http_body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Whole(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Self::Events(events) => events.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Whole(None))
    }
}

fn to_api_request(req: Request) -> ApiRequest {
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
    let body = bytes::Bytes::copy_from_slice(req.body().as_ref());
    ApiRequest::from_http(req.method().clone(), req.uri(), req.headers(), body, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatbot_core::auth::Authenticator;
    use chatbot_core::crypto::EnvelopeCipher;
    use chatbot_core::fakes::{
        InMemoryConversationStore, InMemoryIdempotencyStore, LocalKeyring, RecordingMetrics, ScriptedModel,
    };
    use chatbot_core::handlers::ChatSettings;
    use http_body::Body as _;

    fn app() -> Arc<ChatApp> {
        Arc::new(ChatApp {
            store: Arc::new(InMemoryConversationStore::new()),
            idempotency: Arc::new(InMemoryIdempotencyStore::default()),
            cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
            model: Arc::new(ScriptedModel::new("fake-model")),
            retriever: None,
            metrics: Arc::new(RecordingMetrics::default()),
            auth: Authenticator::Disabled,
            sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
            settings: ChatSettings::default(),
            documents: None,
        })
    }

    /// A function URL event (HTTP API payload 2.0), as Lambda sends it.
    fn event(method: &str, path: &str, body: Option<&str>, accept: Option<&str>) -> Request {
        let mut headers =
            serde_json::json!({"content-type": "application/json", "authorization": "Bearer t"});
        if let Some(accept) = accept {
            headers["accept"] = accept.into();
        }
        let json = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous", "apiId": "abcdefghij", "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abcdefghij", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "test"}, "requestId": "url-1", "routeKey": "$default",
                "stage": "$default", "time": "25/Nov/2026:14:00:00 +0000", "timeEpoch": 1_795_000_000_000i64
            },
            "body": body,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&json.to_string()).expect("a valid function URL event")
    }

    async fn frames(resp: Response<ReplyBody>) -> Vec<Bytes> {
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            out.push(frame.unwrap().into_data().unwrap());
        }
        out
    }

    #[test]
    fn the_idempotency_key_header_is_carried_to_the_handler() {
        let mut req = event("POST", "/chat", Some(r#"{"message":"hello"}"#), None);
        assert_eq!(to_api_request(req).idempotency_key, None);
        req = event("POST", "/chat", Some(r#"{"message":"hello"}"#), None);
        req.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("key-1"));
        assert_eq!(to_api_request(req).idempotency_key.as_deref(), Some("key-1"));
    }

    #[tokio::test]
    async fn a_buffered_reply_is_one_whole_json_chunk_under_the_streaming_runner() {
        let resp = handle(app(), event("POST", "/chat", Some(r#"{"message":"hello"}"#), None)).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let chunks = frames(resp).await;
        assert_eq!(chunks.len(), 1, "one chunk, never an empty body");
        let v: serde_json::Value = serde_json::from_slice(&chunks[0]).unwrap();
        assert_eq!(v["reply"], "echo: hello");

        let resp = handle(app(), event("POST", "/chat", Some("{oops"), None)).await.unwrap();
        assert_eq!(resp.status(), 400);
        assert!(!frames(resp).await.is_empty(), "errors carry their JSON too");
        let resp = handle(app(), event("GET", "/health", None, None)).await.unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn a_streamed_reply_is_one_chunk_per_event_ending_in_done() {
        let req = event("POST", "/chat", Some(r#"{"message":"hello there"}"#), Some("text/event-stream"));
        let resp = handle(app(), req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let chunks = frames(resp).await;
        assert!(chunks.len() >= 3, "start, deltas and done arrive as separate chunks: {chunks:?}");
        assert!(chunks[0].starts_with(b"event: start"), "{:?}", chunks[0]);
        assert!(chunks.last().unwrap().starts_with(b"event: done"), "{chunks:?}");
    }

    #[tokio::test]
    async fn an_empty_response_sends_no_chunk_but_keeps_its_status() {
        let id = "00000000-0000-4000-8000-000000000001";
        let resp = handle(app(), event("DELETE", &format!("/conversations/{id}"), None, None)).await.unwrap();
        assert_eq!(resp.status(), 204);
        assert!(http_body::Body::is_end_stream(resp.body()));
        assert!(frames(resp).await.is_empty());
    }
}
