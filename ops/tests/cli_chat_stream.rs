//! `opsctl chat` streams: the reply reaches the terminal while the API is still writing it, and
//! Ctrl-C stops it, closing the connection (which stops the model) with the shell's 130.

mod support;

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::routing::post;

use support::{deployed_api, opsctl_command, text};
use tokio::sync::{Notify, mpsc};

const CONVERSATION: &str = "6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11";

fn event(name: &str, data: serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Set when the server's response body is dropped: the client closed the connection.
struct Closed(Arc<AtomicBool>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// An API that streams `start` and a first delta, then waits for `go` before the rest; it
/// records whether the client asked for events and when the client went away.
struct StreamingApi {
    url: String,
    go: Arc<Notify>,
    closed: Arc<AtomicBool>,
    asked_for_events: Arc<AtomicBool>,
}

async fn streaming_api(rest: Vec<Bytes>) -> StreamingApi {
    let (go, closed, asked) =
        (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let state = (go.clone(), closed.clone(), asked.clone(), rest);
    let app = Router::new().route(
        "/chat",
        post(move |headers: HeaderMap| {
            let (go, closed, asked, rest) = state.clone();
            async move {
                let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
                asked.store(accept.contains("text/event-stream"), Ordering::SeqCst);
                let (tx, rx) = mpsc::channel::<Bytes>(16);
                tokio::spawn(async move {
                    let _ = tx
                        .send(event(
                            "start",
                            serde_json::json!({"conversation_id": CONVERSATION, "request_id": "r-1"}),
                        ))
                        .await;
                    let _ = tx.send(event("delta", serde_json::json!({"text": "Hello "}))).await;
                    go.notified().await;
                    for chunk in rest {
                        let _ = tx.send(chunk).await;
                    }
                    // Held open until the client leaves, as a model that keeps writing would.
                    tx.closed().await;
                });
                let guard = Closed(closed);
                let body = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
                    rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), (rx, guard)))
                });
                ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(body))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    StreamingApi { url, go, closed, asked_for_events: asked }
}

/// Reads the child's stdout until it holds `needle`, failing after 20 s.
async fn read_until(child: &mut Child, needle: &'static str) -> (std::process::ChildStdout, String) {
    let mut stdout = child.stdout.take().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "stdout closed before {needle:?}: {:?}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        (stdout, String::from_utf8_lossy(&seen).into_owned())
    });
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the delta reached the terminal in time")
        .unwrap()
}

fn spawn(env: &str, message: &str) -> Child {
    let mut cmd = opsctl_command(None, &["--env", env, "chat", message]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("start opsctl")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reply_is_printed_while_it_streams_then_its_sources() {
    let done = serde_json::json!({"conversation_id": CONVERSATION, "message_id": "m-1", "model": "test-model",
        "usage": {"input_tokens": 3, "output_tokens": 2}, "stop_reason": "end_turn"});
    let citations = serde_json::json!({"citations": [{"source": "docs/notes.md", "chunk": 1, "score": 0.7}]});
    let rest = vec![
        event("delta", serde_json::json!({"text": "\u{1b}[2Jworld"})),
        Bytes::from_static(b": keep-alive\n\n"),
        event("citations", citations),
        event("done", done),
    ];
    let api = streaming_api(rest).await;
    deployed_api("dev", &api.url).await;
    let mut child = spawn("dev", "hi");
    // The first delta is on the terminal while the server still holds the rest back.
    let (mut stdout, seen) = read_until(&mut child, "Hello").await;
    assert!(seen.starts_with("Hello"), "{seen:?}");
    api.go.notify_one();
    let out = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        (child.wait_with_output().unwrap(), rest)
    });
    let (out, rest) = out.await.unwrap();
    let stdout = seen + &rest;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(api.asked_for_events.load(Ordering::SeqCst), "opsctl asks for the stream");
    assert!(stdout.starts_with("Hello world\n"), "control sequences are stripped: {stdout:?}");
    assert!(stdout.contains("[1] docs/notes.md (chunk 1"), "{stdout}");
    assert!(
        text(&out.stderr).contains(&format!("conversation {CONVERSATION} (test-model)")),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_reply_closes_the_connection_and_exits_130() {
    let api = streaming_api(Vec::new()).await;
    deployed_api("staging", &api.url).await;
    let mut child = spawn("staging", "tell me a long story");
    let (_stdout, _) = read_until(&mut child, "Hello").await;
    assert!(!api.closed.load(Ordering::SeqCst));
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopped: the partial reply is kept"), "{}", text(&out.stderr));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !api.closed.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "the connection stayed open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
