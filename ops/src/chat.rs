//! A client of the chat API, on AWS or on the local target alike: one turn per call, retried
//! under one `Idempotency-Key` so a message is stored and answered once.

use std::time::Duration;

use anyhow::Context;
use chatbot_core::domain::api::ChatResponse;
use chatbot_core::domain::error::ErrorBody;
use serde_json::{Value, json};

use crate::deployed::Deployed;

/// How long one request may take: a model's reply can take tens of seconds.
const TIMEOUT: Duration = Duration::from_secs(90);

pub struct ChatClient {
    pub url: String,
    token: String,
    client: reqwest::Client,
}

impl ChatClient {
    /// The API's URL and token: the gateway of the local target, or the stack's `ApiUrl` on AWS.
    pub async fn new(deployed: &Deployed) -> anyhow::Result<Self> {
        let client =
            reqwest::Client::builder().timeout(TIMEOUT).build().context("building the HTTP client")?;
        Ok(Self { token: deployed.token().await?, url: deployed.api_url.clone(), client })
    }

    /// The reply, or the API's error as one readable line.
    pub async fn send(
        &self,
        message: &str,
        conversation: Option<&str>,
    ) -> anyhow::Result<Result<ChatResponse, String>> {
        send(&self.client, self, message, conversation).await
    }
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

async fn send(
    client: &reqwest::Client,
    api: &ChatClient,
    message: &str,
    conversation: Option<&str>,
) -> anyhow::Result<Result<ChatResponse, String>> {
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
        let reply = serde_json::from_value(value)
            .with_context(|| format!("{} answered {status} with a body that is not a chat reply", api.url))?;
        return Ok(Ok(reply));
    }
    // API Gateway's own refusals ({"message": "..."}) are not the API's error body.
    let error = serde_json::from_value::<ErrorBody>(value).ok().map(|b| b.error);
    let code = error.as_ref().map_or("error", |e| e.code.as_str());
    let text = error.as_ref().map_or("no message", |e| e.message.as_str());
    let mut line = format!("{status}: {code}: {text}");
    if let Some(secs) = retry_after {
        line.push_str(&format!(" (retry after {secs} s)"));
    }
    Ok(Err(line))
}
