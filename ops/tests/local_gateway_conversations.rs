//! The conversations endpoints through the local gateway over raw HTTP: every refusal is a §4
//! error with its status, and a delete answers 204 however often it is repeated.

use std::sync::Arc;
use std::time::Duration;

use chatbot_core::fakes::{ScriptedModel, chat_app};
use opsctl::local::gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "gateway-token-0123456789";

async fn start() -> u16 {
    let app = chat_app(Arc::new(ScriptedModel::new("fake-model")), Some(TOKEN)).await.unwrap();
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(gateway::serve(listener, Arc::new(app), std::future::pending()));
    port
}

/// One raw exchange: the status and the body, parsed when there is one.
async fn exchange(port: u16, method: &str, target: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    let body = &raw[split + 4..];
    (status, if body.is_empty() { Value::Null } else { serde_json::from_slice(body).unwrap_or(Value::Null) })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_is_a_section_4_error_and_a_delete_answers_204_twice() {
    let port = start().await;
    let (status, reply) = exchange(port, "POST", "/chat", Some(TOKEN), r#"{"message": "hello"}"#).await;
    assert_eq!(status, 200);
    let id = reply["conversation_id"].as_str().unwrap().to_owned();
    let path = format!("/conversations/{id}");
    let unknown = "/conversations/6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11";
    let long_title = format!(r#"{{"title": "{}"}}"#, "x".repeat(61));
    let huge = format!(r#"{{"title": "{}"}}"#, "x".repeat(5000));
    // method, target, token, body, status, code
    type Case<'a> = (&'a str, String, Option<&'a str>, &'a str, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("GET", "/conversations".into(), None, "", 401, "unauthorized"),
        ("GET", "/conversations".into(), Some("wrong-token"), "", 401, "unauthorized"),
        ("DELETE", path.clone(), None, "", 401, "unauthorized"),
        ("GET", "/conversations?limit=0".into(), Some(TOKEN), "", 400, "bad_request"),
        ("GET", "/conversations?limit=abc".into(), Some(TOKEN), "", 400, "bad_request"),
        ("GET", "/conversations?cursor=nothex".into(), Some(TOKEN), "", 400, "bad_request"),
        ("GET", "/conversations?cursor=6869".into(), Some(TOKEN), "", 400, "bad_request"),
        ("GET", "/conversations?order=asc".into(), Some(TOKEN), "", 400, "bad_request"),
        ("GET", "/conversations/not-a-uuid".into(), Some(TOKEN), "", 400, "bad_request"),
        ("GET", unknown.into(), Some(TOKEN), "", 404, "not_found"),
        ("PATCH", unknown.into(), Some(TOKEN), r#"{"title": "x"}"#, 404, "not_found"),
        ("PATCH", path.clone(), Some(TOKEN), "{not json", 400, "bad_request"),
        ("PATCH", path.clone(), Some(TOKEN), &long_title, 400, "bad_request"),
        ("PATCH", path.clone(), Some(TOKEN), &huge, 413, "payload_too_large"),
        ("POST", "/conversations".into(), Some(TOKEN), "{}", 405, "method_not_allowed"),
        ("PUT", path.clone(), Some(TOKEN), "{}", 405, "method_not_allowed"),
    ];
    for (method, target, token, body, status, code) in &cases {
        let (got, error) = exchange(port, method, target, *token, body).await;
        assert_eq!(got, *status, "{method} {target}: {error}");
        assert_eq!(error["error"]["code"], *code, "{method} {target}: {error}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(error["error"]["request_id"].as_str().is_some_and(|r| r.starts_with("local-")));
    }
    // The conversation was not harmed by any of it.
    let (status, page) = exchange(port, "GET", &path, Some(TOKEN), "").await;
    assert_eq!((status, page["messages"].as_array().map(Vec::len)), (200, Some(2)));
    for _ in 0..2 {
        assert_eq!(exchange(port, "DELETE", &path, Some(TOKEN), "").await, (204, Value::Null));
    }
    assert_eq!(exchange(port, "GET", &path, Some(TOKEN), "").await.0, 404);
    let (_, list) = exchange(port, "GET", "/conversations", Some(TOKEN), "").await;
    assert_eq!(list["conversations"], serde_json::json!([]));
}
