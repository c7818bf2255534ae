//! `opsctl chat` against an API that answers with terminal control sequences in the reply, in a
//! cited source and in an error: what reaches the terminal is their text, never the sequences.

mod support;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::post;
use serde_json::{Value, json};
use support::{deployed_api, opsctl, text};

/// Clears the screen, retitles the window, writes the clipboard and reverses the text.
const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}]52;c;cm0gLXJmIH4=\u{1b}\\The printer is \
                       on the second floor.\u{202e}txt.exe\u{9b}31m";

async fn api(reply: Value, status: StatusCode) -> String {
    let body = reply.to_string();
    let app = Router::new().route(
        "/chat",
        post(move || async move { (status, [(header::CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn assert_inert(shown: &str) {
    for c in shown.chars() {
        let control = c.is_control() && c != '\n' && c != '\t';
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!control && !bidi, "{c:?} reached the terminal in {shown:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_sources_and_errors_reach_the_terminal_without_control_sequences() {
    let reply = json!({
        "conversation_id": "6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11", "message_id": "m", "model": "m\u{1b}[8m",
        "reply": HOSTILE,
        "citations": [{"source": "docs/\u{1b}[31mnotes\u{7}.md", "chunk": 0, "score": 0.5}],
        "usage": {"input_tokens": 1, "output_tokens": 1}
    });
    deployed_api("staging", &api(reply, StatusCode::OK).await).await;
    let out =
        tokio::task::spawn_blocking(|| opsctl(None, &["--env", "staging", "chat", "where is the printer?"]))
            .await
            .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_inert(&stdout);
    assert_inert(&stderr);
    assert!(stdout.contains("The printer is on the second floor.txt.exe\n"), "{stdout}");
    assert!(stdout.contains("[1] docs/notes.md (chunk 0"), "{stdout}");

    // `--output json` keeps the reply as sent: serde escapes it, so nothing reaches the terminal raw.
    let json_out = tokio::task::spawn_blocking(|| {
        opsctl(None, &["--env", "staging", "chat", "again", "--output", "json"])
    })
    .await
    .unwrap();
    let shown = text(&json_out.stdout);
    assert_inert(&shown);
    let parsed: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(parsed["reply"], HOSTILE);

    // An error's message is the server's text too.
    let error = json!({"error": {"code": "bad_request", "message": "no\u{1b}[2J way", "request_id": "r"}});
    deployed_api("prod", &api(error, StatusCode::BAD_REQUEST).await).await;
    let out = tokio::task::spawn_blocking(|| opsctl(None, &["--env", "prod", "chat", "hi"])).await.unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_inert(&stderr);
    assert!(stderr.contains("no way"), "{stderr}");
}
