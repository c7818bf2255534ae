//! `opsctl chat ["message"] [--conversation ID]`: one message, or a REPL that keeps the
//! conversation, against the environment's API on AWS or on the local target alike.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::Ctx;
use crate::cli::ChatArgs;
use crate::deployed::Deployed;

struct Api {
    url: String,
    token: String,
}

pub async fn run(args: ChatArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let api = locate(ctx).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .context("building the HTTP client")?;
    let Some(message) = args.message else {
        return repl(ctx, &client, &api, args.conversation).await;
    };
    match send(&client, &api, &message, args.conversation.as_deref()).await? {
        Ok(reply) => {
            show(ctx, &reply)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {}", crate::printable::printable(&error));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The API's URL and token: the gateway of the local target, or the stack's `ApiUrl` on AWS.
async fn locate(ctx: &Ctx) -> anyhow::Result<Api> {
    let deployed = Deployed::locate(ctx).await?;
    Ok(Api { token: deployed.token().await?, url: deployed.api_url })
}

/// Attempts per message: a timeout or a 409 (the same message still being answered) is retried
/// under the same `Idempotency-Key`, so the message is stored and answered once.
const ATTEMPTS: usize = 3;

/// A fresh key per message.
fn idempotency_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for an Idempotency-Key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The reply, or the API's error as one readable line.
async fn send(
    client: &reqwest::Client,
    api: &Api,
    message: &str,
    conversation: Option<&str>,
) -> anyhow::Result<Result<Value, String>> {
    let mut body = json!({ "message": message });
    if let Some(c) = conversation {
        body["conversation_id"] = json!(c);
    }
    let key = idempotency_key()?;
    let mut attempt = 1;
    let response = loop {
        let sent = client
            .post(format!("{}/chat", api.url))
            .bearer_auth(&api.token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        let retry_in = match &sent {
            Err(e) if e.is_timeout() || e.is_connect() => Duration::from_secs(1),
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => {
                let secs = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
                Duration::from_secs(secs.unwrap_or(2).min(10))
            }
            _ => break sent,
        };
        if attempt == ATTEMPTS {
            break sent;
        }
        attempt += 1;
        tokio::time::sleep(retry_in).await;
    }
    .with_context(|| format!("could not reach {}/chat: is the API up? (`opsctl status`)", api.url))?;
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let value: Value =
        response.json().await.with_context(|| format!("{} answered {status} without JSON", api.url))?;
    if status.is_success() {
        return Ok(Ok(value));
    }
    let code = value["error"]["code"].as_str().unwrap_or("error");
    let text = value["error"]["message"].as_str().unwrap_or("no message");
    let mut line = format!("{status}: {code}: {text}");
    if let Some(secs) = retry_after {
        line.push_str(&format!(" (retry after {secs} s)"));
    }
    Ok(Err(line))
}

fn show(ctx: &Ctx, reply: &Value) -> anyhow::Result<()> {
    ctx.out.emit(reply, || {
        let mut text = reply["reply"].as_str().unwrap_or_default().to_owned();
        let citations = reply["citations"].as_array().cloned().unwrap_or_default();
        if !citations.is_empty() {
            text.push_str("\n\nsources:");
            for (i, c) in citations.iter().enumerate() {
                text.push_str(&format!(
                    "\n  [{}] {} (chunk {}, score {:.2})",
                    i + 1,
                    c["source"].as_str().unwrap_or("?"),
                    c["chunk"],
                    c["score"].as_f64().unwrap_or_default()
                ));
            }
        }
        text
    })?;
    if let (false, Some(id)) = (ctx.out.is_json(), reply["conversation_id"].as_str()) {
        let line = format!("conversation {id} ({})", reply["model"].as_str().unwrap_or("?"));
        eprintln!("{}", crate::printable::printable(&line));
    }
    Ok(())
}

/// Reads lines until Ctrl-D, keeping the conversation; a failed turn is reported and the REPL
/// goes on, so nothing typed before is lost.
async fn repl(
    ctx: &Ctx,
    client: &reqwest::Client,
    api: &Api,
    mut conversation: Option<String>,
) -> anyhow::Result<ExitCode> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    eprintln!("chatting with {} (Ctrl-D to quit)", api.url);
    loop {
        let line = match tokio::task::block_in_place(|| editor.readline("you> ")) {
            Ok(line) => line,
            Err(ReadlineError::Eof) => return Ok(ExitCode::SUCCESS),
            Err(ReadlineError::Interrupted) => continue,
            Err(e) => bail!("reading the terminal: {e}"),
        };
        let message = line.trim();
        if message.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(message);
        match send(client, api, message, conversation.as_deref()).await {
            Ok(Ok(reply)) => {
                if let Some(id) = reply["conversation_id"].as_str() {
                    conversation = Some(id.to_owned());
                }
                show(ctx, &reply)?;
            }
            Ok(Err(error)) => eprintln!("error: {}", crate::printable::printable(&error)),
            Err(e) => eprintln!("error: {}", crate::errors::explain(&e)),
        }
    }
}
