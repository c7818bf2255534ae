//! Translates between API Gateway's HTTP API events and the transport-neutral handlers.

use std::sync::Arc;

use chatbot_core::handlers::{ApiRequest, ChatApp, route};
use lambda_http::{Body, Request, RequestExt, Response};

pub async fn handle(app: Arc<ChatApp>, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let api = to_api_request(req);
    let resp = route(&app, &api).await;
    // Our bodies are JSON, hence UTF-8; sending them as text keeps API Gateway from base64.
    Ok(resp.map(|bytes| match String::from_utf8(bytes) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    }))
}

fn to_api_request(req: Request) -> ApiRequest {
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
    let authorization =
        req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Lossy rather than dropped: a key that is not visible ASCII must be refused, not ignored.
    let idempotency_key =
        req.headers().get("idempotency-key").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let query = req.uri().query().map(str::to_owned);
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = bytes::Bytes::copy_from_slice(req.body().as_ref());
    ApiRequest { method, path, query, authorization, idempotency_key, accept, body, request_id }
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

    fn app() -> Arc<ChatApp> {
        Arc::new(ChatApp {
            store: Arc::new(InMemoryConversationStore::new()),
            idempotency: Arc::new(InMemoryIdempotencyStore::default()),
            cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
            model: Arc::new(ScriptedModel::new("fake-model")),
            retriever: None,
            metrics: Arc::new(RecordingMetrics::default()),
            auth: Authenticator::Disabled,
            settings: ChatSettings::default(),
        })
    }

    /// An HTTP API (payload 2.0) event, as API Gateway sends it.
    fn event(method: &str, path: &str, body: Option<&str>) -> Request {
        let json = serde_json::json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "authorization": "Bearer t"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "abc", "domainName": "abc.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "test"}, "requestId": "apigw-1", "routeKey": format!("{method} {path}"),
                "stage": "$default", "time": "25/Nov/2026:14:00:00 +0000", "timeEpoch": 1_795_000_000_000i64
            },
            "body": body,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&json.to_string()).expect("a valid HTTP API event")
    }

    #[test]
    fn the_idempotency_key_header_is_carried_to_the_handler() {
        let mut req = event("POST", "/chat", Some(r#"{"message":"hello"}"#));
        assert_eq!(to_api_request(req).idempotency_key, None);
        req = event("POST", "/chat", Some(r#"{"message":"hello"}"#));
        req.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("key-1"));
        assert_eq!(to_api_request(req).idempotency_key.as_deref(), Some("key-1"));
    }

    #[tokio::test]
    async fn http_api_events_reach_the_handlers_and_come_back_as_json_text() {
        let resp = handle(app(), event("POST", "/chat", Some(r#"{"message":"hello"}"#))).await.unwrap();
        assert_eq!(resp.status(), 200);
        let Body::Text(text) = resp.body() else { panic!("expected a text body") };
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["reply"], "echo: hello");

        let resp = handle(app(), event("POST", "/chat", Some("{oops"))).await.unwrap();
        assert_eq!(resp.status(), 400);
        let resp = handle(app(), event("GET", "/health", None)).await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}
