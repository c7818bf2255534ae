//! `opsctl local up|status|down`, run as the real binary: the emulator and the gateway start,
//! the chat API answers and remembers, `opsctl open` signs a browser in once, a second `up` is
//! refused, and `down` leaves nothing.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn opsctl(local_dir: &Path, args: &[&str]) -> Output {
    opsctl_with(local_dir, args, &[])
}

fn opsctl_with(local_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    support::isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .env("OPSCTL_LOCAL_DIR", local_dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run opsctl")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn post(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let body = body.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&raw[..split]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_slice(&raw[split + 4..]).unwrap())
}

/// `POST /session` with `body`: the status, the response's head and its body.
fn sign_in(url: &str, body: &Value) -> (u16, String, String) {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let body = body.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, String::from_utf8_lossy(&raw[split + 4..]).into_owned())
}

/// The code of a sign-in link to the app at `url`.
fn code_of<'a>(link: &'a str, url: &str) -> &'a str {
    link.strip_prefix(&format!("{url}/#signin="))
        .unwrap_or_else(|| panic!("not a sign-in link to {url}: {link}"))
}

fn gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has exited; only its parent's bookkeeping is left.
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Stops the local target even when an assertion fails, so a failing test leaves nothing running.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for env in ["dev", "staging"] {
            let _ = opsctl(&self.0, &["local", "down", "--env", env]);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn local_up_serves_the_chat_api_and_down_leaves_nothing() {
    let dir = std::env::temp_dir().join(format!("opsctl-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _cleanup = Cleanup(dir.clone());

    let up = opsctl(&dir, &["local", "up", "--output", "json"]);
    assert!(up.status.success(), "local up failed:\n{}", String::from_utf8_lossy(&up.stderr));
    let up = json_of(&up);
    // The token, the logs and the placeholder code: nobody else on the machine may read them.
    assert_eq!(support::private_files::not_owner_only(&dir.join("dev")), Vec::<String>::new());
    let url = up["gateway"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{up}");

    let status = opsctl(&dir, &["local", "status", "--output", "json"]);
    assert!(status.status.success());
    let status = json_of(&status);
    assert_eq!(status["running"], true, "{status}");
    let pids = [status["emulator"]["pid"].as_u64().unwrap(), status["gateway"]["pid"].as_u64().unwrap()];
    let ports: Vec<u16> = [&status["emulator"]["url"], &status["gateway"]["url"]]
        .iter()
        .map(|u| u.as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap())
        .collect();

    // Every other command reaches the local target through --target local.
    let token = opsctl(&dir, &["--target", "local", "token", "show"]);
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let stack = opsctl(&dir, &["--target", "local", "status", "--output", "json"]);
    assert_eq!(json_of(&stack)["status"], "CREATE_COMPLETE");

    // The app is served at the gateway's root; `opsctl open` signs a browser in with a link
    // that works once, and never shows the token.
    assert_eq!(up["app_url"], format!("{url}/"), "{up}");
    let open = opsctl(&dir, &["--target", "local", "open", "--print", "--output", "json"]);
    assert!(open.status.success(), "{}", String::from_utf8_lossy(&open.stderr));
    for printed in [&open.stdout, &open.stderr] {
        assert!(!String::from_utf8_lossy(printed).contains(&token), "the token is never printed");
    }
    let opened = json_of(&open);
    assert_eq!(
        (opened["opened"].as_bool(), opened["expires_in"].as_u64()),
        (Some(false), Some(60)),
        "{opened}"
    );
    let code = code_of(opened["url"].as_str().unwrap(), &url).to_owned();
    let (status, head, body) = sign_in(&url, &json!({ "code": code }));
    assert_eq!(status, 204, "{head}\n{body}");
    let cookie = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie: ").then(|| l[12..].to_owned()))
        .expect("a session cookie");
    assert!(cookie.starts_with("chat_session=") && cookie.contains("HttpOnly"), "{cookie}");
    let (status, head, body) = sign_in(&url, &json!({ "code": code }));
    assert_eq!(status, 401, "a link works once: {body}");
    assert!(
        !head.to_ascii_lowercase().contains("set-cookie") && body.contains("opsctl open"),
        "{head}\n{body}"
    );
    // Without --print the link goes to the browser BROWSER names; when none starts, it is printed.
    let seen = dir.join("browser-saw");
    let browser = dir.join("browser");
    std::fs::write(&browser, format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", seen.display())).unwrap();
    std::fs::set_permissions(&browser, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let open = opsctl_with(&dir, &["--target", "local", "open"], &[("BROWSER", browser.to_str().unwrap())]);
    assert!(open.status.success(), "{}", String::from_utf8_lossy(&open.stderr));
    let said = String::from_utf8_lossy(&open.stdout);
    assert!(said.contains(&format!("opened {url}/")) && !said.contains("#signin="), "{said}");
    let link = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(sign_in(&url, &json!({ "code": code_of(&link, &url) })).0, 204, "the browser's link signs in");
    let open = opsctl_with(&dir, &["--target", "local", "open"], &[("BROWSER", "/nonexistent/browser")]);
    assert!(open.status.success(), "{}", String::from_utf8_lossy(&open.stderr));
    let said = String::from_utf8_lossy(&open.stdout);
    assert!(
        said.contains("it signs in once, within 60 s") && said.contains(&format!("{url}/#signin=")),
        "{said}"
    );
    assert!(String::from_utf8_lossy(&open.stderr).contains("could not start a browser"));

    let (code, first) = post(&url, &token, &json!({"message": "My favourite language is Rust."}));
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["model"], "local/extractive");
    let conversation = first["conversation_id"].as_str().unwrap();
    let (code, second) = post(&url, &token, &json!({"message": "and Go", "conversation_id": conversation}));
    assert_eq!((code, second["conversation_id"].as_str()), (200, Some(conversation)));
    let (code, _) = post(&url, "wrong-token", &json!({"message": "hi"}));
    assert_eq!(code, 401);

    // `opsctl chat` finds the gateway and the token by itself, one message or a REPL.
    let said = opsctl(&dir, &["--target", "local", "chat", "I live in Lisbon.", "--output", "json"]);
    assert!(said.status.success(), "{}", String::from_utf8_lossy(&said.stderr));
    let said = json_of(&said);
    assert_eq!(said["model"], "local/extractive");
    let id = said["conversation_id"].as_str().unwrap();
    let ask = ["--target", "local", "chat", "Where do I live?", "--conversation", id, "--output", "json"];
    let more = json_of(&opsctl(&dir, &ask));
    assert_eq!(more["conversation_id"].as_str(), Some(id));
    let remembered = more["reply"].as_str().unwrap();
    assert!(
        remembered.contains("you said: \"I live in Lisbon.\""),
        "the first turn is remembered: {remembered}"
    );
    let bad = opsctl(&dir, &["--target", "local", "chat", "x", "--conversation", "not-a-uuid"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("400 Bad Request: bad_request"), "{bad:?}");
    let mut repl = support::isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["--target", "local", "chat"])
        .env("OPSCTL_LOCAL_DIR", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    repl.stdin.take().unwrap().write_all(b"first line\n\nsecond line\n").unwrap();
    let repl = repl.wait_with_output().unwrap();
    assert!(repl.status.success(), "{}", String::from_utf8_lossy(&repl.stderr));
    let stderr = String::from_utf8_lossy(&repl.stderr);
    let ids: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("conversation ")).collect();
    assert_eq!(ids.len(), 2, "two replies: {stderr}");
    assert_eq!(ids[0], ids[1], "the REPL keeps its conversation");
    assert_eq!(String::from_utf8_lossy(&repl.stdout).matches("development model").count(), 2);

    // The gateway publishes what AWS would, under AWS's names, to the emulator's CloudWatch.
    let published = published_metrics(ports[0]);
    for (namespace, name, dimension) in [
        ("AWS/Lambda", "Invocations", "chatbot-chat-dev"),
        ("AWS/Lambda", "Duration", "chatbot-chat-dev"),
        ("AWS/Lambda", "UrlRequestCount", "chatbot-chat-dev"),
        ("AWS/Lambda", "Url4xxCount", "chatbot-chat-dev"),
        ("Chatbot", "InputTokens", "chat"),
        ("Chatbot", "ModelLatency", "chat"),
    ] {
        assert!(
            published.iter().any(|(ns, n, d)| {
                ns == namespace && n == name && (dimension.is_empty() || d.contains(&dimension.to_owned()))
            }),
            "{namespace} {name} not published: {published:?}"
        );
    }

    let again = opsctl(&dir, &["local", "up"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already running") && stderr.contains(&url), "{stderr}");

    let down = opsctl(&dir, &["local", "down", "--output", "json"]);
    assert!(down.status.success());
    assert_eq!(json_of(&down)["stopped"].as_array().unwrap().len(), 2);
    for port in ports {
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} is still open");
    }
    for pid in pids {
        assert!(gone(pid), "process {pid} is still running");
    }
    let after = opsctl(&dir, &["local", "status"]);
    assert!(!after.status.success());
    assert!(String::from_utf8_lossy(&after.stdout).contains("not running"));
}

/// (namespace, name, dimension values) of every metric on the emulator, once the chat metrics
/// have arrived (the gateway publishes every 10 s).
fn published_metrics(emulator_port: u16) -> Vec<(String, String, Vec<String>)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{emulator_port}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .load()
            .await;
        let cw = aws_sdk_cloudwatch::Client::new(&sdk);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let listed = cw.list_metrics().send().await.unwrap();
            let metrics: Vec<_> = listed
                .metrics()
                .iter()
                .map(|m| {
                    (
                        m.namespace().unwrap_or_default().to_owned(),
                        m.metric_name().unwrap_or_default().to_owned(),
                        m.dimensions().iter().filter_map(|d| d.value().map(str::to_owned)).collect(),
                    )
                })
                .collect();
            let has = |namespace: &str| metrics.iter().any(|(ns, _, _)| ns == namespace);
            // The URL's metrics come in the same AWS/Lambda batch as the invocations.
            let has_url = metrics.iter().any(|(_, name, _)| name == "UrlRequestCount");
            if (has("Chatbot") && has_url) || std::time::Instant::now() > deadline {
                return metrics;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    })
}

#[test]
fn a_crashed_emulator_is_reported_with_the_next_step() {
    let dir = std::env::temp_dir().join(format!("opsctl-local-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _cleanup = Cleanup(dir.clone());
    let up = opsctl(&dir, &["local", "up", "--env", "staging", "--output", "json"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let status = json_of(&opsctl(&dir, &["local", "status", "--env", "staging", "--output", "json"]));
    let emulator = status["emulator"]["pid"].as_u64().unwrap();
    assert!(Command::new("kill").args(["-KILL", &emulator.to_string()]).status().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(300));

    let status = opsctl(&dir, &["local", "status", "--env", "staging"]);
    assert!(!status.status.success());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("DOWN") && text.contains("opsctl local down --env staging"), "{text}");
    let token = opsctl(&dir, &["--target", "local", "--env", "staging", "token", "show"]);
    assert!(!token.status.success());
    let stderr = String::from_utf8_lossy(&token.stderr);
    assert!(stderr.contains("has stopped") && stderr.contains("emulator.log"), "{stderr}");

    // `down` still stops the gateway, and a new `up` is allowed.
    let down = json_of(&opsctl(&dir, &["local", "down", "--env", "staging", "--output", "json"]));
    assert_eq!(down["stopped"].as_array().unwrap().len(), 1, "{down}");
}

/// A chat-completions server on loopback that answers every request with `reply`, and counts them.
fn fake_openai_server(reply: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            let body_len = loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                        .unwrap_or(0);
                    while raw.len() < end + 4 + len {
                        let n = s.read(&mut buf).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        raw.extend_from_slice(&buf[..n]);
                    }
                    break Some(len);
                }
            };
            if body_len.is_none() {
                continue;
            }
            count.fetch_add(1, Ordering::SeqCst);
            let body = json!({"model": "tiny-model", "choices": [{"message": {"role": "assistant", "content": reply}}],
                              "usage": {"prompt_tokens": 21, "completion_tokens": 4}})
            .to_string();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, served)
}

#[test]
fn an_openai_compatible_server_replaces_the_development_model() {
    let dir = std::env::temp_dir().join(format!("opsctl-local-openai-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _cleanup = Cleanup(dir.clone());
    let (port, served) = fake_openai_server("Hello from the tiny model.");
    let model = format!("openai:http://127.0.0.1:{port}/v1#tiny-model");
    let up = opsctl(&dir, &["local", "up", "--env", "staging", "--model", &model, "--output", "json"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert_eq!(json_of(&up)["model"], model.as_str());

    let said =
        opsctl(&dir, &["--target", "local", "--env", "staging", "chat", "Hi there", "--output", "json"]);
    assert!(said.status.success(), "{}", String::from_utf8_lossy(&said.stderr));
    let said = json_of(&said);
    assert_eq!(said["reply"], "Hello from the tiny model.");
    assert_eq!(said["model"], "openai:tiny-model");
    assert_eq!(said["usage"]["input_tokens"], 21);
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);

    let bad = opsctl(&dir, &["local", "up", "--env", "dev", "--model", "openai:http://127.0.0.1:1/v1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("openai:<base-url>#<model>"), "{bad:?}");
}
