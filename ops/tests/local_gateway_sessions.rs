//! The web app's sign-in through the local gateway over raw HTTP: the token is exchanged for an
//! HttpOnly, SameSite=Strict cookie; the cookie reads; a change made by cookie needs the CSRF
//! header, and one refused for lacking it stores nothing.

use std::sync::Arc;
use std::time::Duration;

use chatbot_core::fakes::{ScriptedModel, chat_app};
use opsctl::local::gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "gateway-token-0123456789";

async fn start() -> u16 {
    let mut app = chat_app(Arc::new(ScriptedModel::new("fake-model")), Some(TOKEN)).await.unwrap();
    app.settings.secure_cookies = false;
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(gateway::serve(listener, Arc::new(app), std::future::pending()));
    port
}

struct Reply {
    status: u16,
    head: String,
    json: Value,
}

impl Reply {
    fn set_cookie(&self) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
    }
}

/// One raw exchange with the given extra header lines.
async fn exchange(port: u16, method: &str, target: &str, headers: &[String], body: &str) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(&format!("{h}\r\n"));
    }
    head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    let json = serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null);
    Reply { status, head, json }
}

fn code(r: &Reply) -> &str {
    r.json["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_becomes_an_http_only_strict_cookie_and_changes_by_cookie_need_the_csrf_header() {
    let port = start().await;
    let none: &[String] = &[];
    for (body, status) in
        [(r#"{"token": "wrong"}"#, 401), (r#"{"token": ""}"#, 401), ("not json", 400), ("{}", 400)]
    {
        let r = exchange(port, "POST", "/session", none, body).await;
        assert_eq!(r.status, status, "{body}: {}", r.head);
        assert!(r.set_cookie().is_none(), "no cookie for {body}");
    }
    let signed = exchange(port, "POST", "/session", none, &format!(r#"{{"token": "{TOKEN}"}}"#)).await;
    assert_eq!(signed.status, 204);
    let set = signed.set_cookie().expect("a Set-Cookie header").to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on the loopback address: {set}");
    let cookie = format!("Cookie: theme=dark; {}", set.split(';').next().unwrap());
    let with_cookie = std::slice::from_ref(&cookie);
    let with_csrf = [cookie.clone(), "X-Chat-CSRF: 1".to_owned()];

    assert_eq!(exchange(port, "GET", "/session", with_cookie, "").await.status, 200);
    assert_eq!(exchange(port, "GET", "/session", none, "").await.status, 401);
    assert_eq!(exchange(port, "GET", "/conversations", with_cookie, "").await.status, 200);

    let refused = exchange(port, "POST", "/chat", with_cookie, r#"{"message": "hello"}"#).await;
    assert_eq!((refused.status, code(&refused)), (403, "forbidden"), "{}", refused.json);
    assert!(refused.json["error"]["message"].as_str().unwrap().contains("X-Chat-CSRF"));
    let listed = exchange(port, "GET", "/conversations", with_cookie, "").await;
    assert_eq!(
        listed.json["conversations"].as_array().map(Vec::len),
        Some(0),
        "the refused turn stored nothing"
    );

    let chat = exchange(port, "POST", "/chat", &with_csrf, r#"{"message": "hello"}"#).await;
    assert_eq!(chat.status, 200, "{}", chat.json);
    let path = format!("/conversations/{}", chat.json["conversation_id"].as_str().unwrap());
    assert_eq!(exchange(port, "PATCH", &path, with_cookie, r#"{"title": "t"}"#).await.status, 403);
    assert_eq!(exchange(port, "DELETE", &path, with_cookie, "").await.status, 403);
    assert_eq!(exchange(port, "DELETE", &path, &with_csrf, "").await.status, 204);

    // The bearer header needs no CSRF header: it is never sent by a browser on its own.
    let bearer = [format!("Authorization: Bearer {TOKEN}")];
    assert_eq!(exchange(port, "POST", "/chat", &bearer, r#"{"message": "hi"}"#).await.status, 200);

    let tampered = cookie.replace("chat_session=", "chat_session=9");
    let r = exchange(port, "GET", "/conversations", &[tampered], "").await;
    assert_eq!((r.status, code(&r)), (401, "unauthorized"));

    let out = exchange(port, "DELETE", "/session", with_cookie, "").await;
    assert_eq!(out.status, 204);
    assert!(out.set_cookie().is_some_and(|c| c.starts_with("chat_session=;") && c.contains("Max-Age=0")));
}
