//! A client of the chat API, on AWS or on the local target alike: one turn per call, retried
//! under one `Idempotency-Key` so a message is stored and answered once, whole or streamed.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use chatbot_core::domain::api::ChatResponse;
use chatbot_core::domain::error::ErrorBody;
use chatbot_core::domain::sse::{self, EventParser, StreamEvent};
use serde_json::{Value, json};

use crate::deployed::Deployed;

/// How long one request may take: a model's reply can take tens of seconds.
const TIMEOUT: Duration = Duration::from_secs(90);
/// How long a stream may stay silent: the API sends a keep-alive every 15 s.
const STREAM_SILENCE: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ChatClient {
    pub url: String,
    token: String,
    client: reqwest::Client,
    /// No total timeout: a streamed reply may take minutes, as long as it keeps coming.
    streaming: reqwest::Client,
}

/// How a streamed turn ended.
#[derive(Debug)]
pub enum Streamed {
    /// The whole reply, as the JSON answer would have it.
    Done(ChatResponse),
    /// Stopped by the caller: the partial reply stays stored, marked `stopped`.
    Stopped { conversation_id: Option<String>, partial: String },
    /// Refused, or the model failed mid-reply (the partial reply stays stored, marked `failed`):
    /// one readable line.
    Failed { conversation_id: Option<String>, error: String },
}

impl ChatClient {
    /// The API's URL and token: the gateway of the local target, or the stack's `ApiUrl` on AWS.
    pub async fn new(deployed: &Deployed) -> anyhow::Result<Self> {
        let client =
            reqwest::Client::builder().timeout(TIMEOUT).build().context("building the HTTP client")?;
        let streaming = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STREAM_SILENCE)
            .build()
            .context("building the HTTP client")?;
        Ok(Self { token: deployed.token().await?, url: deployed.api_url.clone(), client, streaming })
    }

    /// The reply, or the API's error as one readable line.
    pub async fn send(
        &self,
        message: &str,
        conversation: Option<&str>,
    ) -> anyhow::Result<Result<ChatResponse, String>> {
        let response = post(&self.client, self, &body(message, conversation), None).await?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let value: Value =
            response.json().await.with_context(|| format!("{} answered {status} without JSON", self.url))?;
        if status.is_success() {
            let reply = serde_json::from_value(value).with_context(|| {
                format!("{} answered {status} with a body that is not a chat reply", self.url)
            })?;
            return Ok(Ok(reply));
        }
        Ok(Err(error_line(status, retry_after, value)))
    }

    /// A streamed turn: `on_delta` gets the reply's text as it comes, until the reply ends or
    /// `stop` resolves (Ctrl-C), which closes the connection and so stops the model. An API that
    /// answers with JSON instead (a buffered deployment) gives its reply as one delta.
    pub async fn stream(
        &self,
        message: &str,
        conversation: Option<&str>,
        mut on_delta: impl FnMut(&str),
        stop: impl Future<Output = ()>,
    ) -> anyhow::Result<Streamed> {
        tokio::pin!(stop);
        let body = body(message, conversation);
        let sent = tokio::select! {
            sent = post(&self.streaming, self, &body, Some(sse::CONTENT_TYPE)) => sent?,
            () = &mut stop => {
                let conversation_id = conversation.map(str::to_owned);
                return Ok(Streamed::Stopped { conversation_id, partial: String::new() });
            }
        };
        let status = sent.status();
        let is_events = sent
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(sse::CONTENT_TYPE));
        if status.is_success() && is_events {
            return read_events(sent, &self.url, &mut on_delta, stop).await;
        }
        let retry_after = retry_after(&sent);
        let value: Value =
            sent.json().await.with_context(|| format!("{} answered {status} without JSON", self.url))?;
        if !status.is_success() {
            let error = error_line(status, retry_after, value);
            return Ok(Streamed::Failed { conversation_id: None, error });
        }
        let reply: ChatResponse = serde_json::from_value(value).with_context(|| {
            format!("{} answered {status} with a body that is not a chat reply", self.url)
        })?;
        on_delta(&reply.reply);
        Ok(Streamed::Done(reply))
    }
}

impl ChatClient {
    /// One call of the API besides `POST /chat`: the JSON it answered (`Null` for a 204), or its
    /// error as one readable line.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, String>> {
        let mut request =
            self.client.request(method.clone(), format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| {
            format!("could not reach {}{path}: is the API up? (`opsctl status`)", self.url)
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(Ok(Value::Null));
        }
        let retry_after = retry_after(&response);
        let value: Value = response
            .json()
            .await
            .with_context(|| format!("{method} {path} answered {status} without JSON"))?;
        Ok(if status.is_success() { Ok(value) } else { Err(error_line(status, retry_after, value)) })
    }
}

/// A one-time sign-in code (`POST /session/links`), minted with the token.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SignInCode {
    pub code: String,
    /// Seconds it works for.
    pub expires_in: u64,
}

impl ChatClient {
    /// A code that signs a browser in once, or the API's refusal as one readable line.
    pub async fn sign_in_code(&self) -> anyhow::Result<Result<SignInCode, String>> {
        Ok(match self.call(reqwest::Method::POST, "/session/links", None).await? {
            Ok(value) => Ok(serde_json::from_value(value).with_context(|| {
                format!(
                    "{}/session/links answered without a sign-in code: is this API older than opsctl?",
                    self.url
                )
            })?),
            Err(refused) => Err(refused),
        })
    }
}

/// Reads the events of a streamed reply until `done`, `error`, the end of the body, or `stop`.
async fn read_events(
    mut response: reqwest::Response,
    url: &str,
    on_delta: &mut impl FnMut(&str),
    mut stop: Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<Streamed> {
    let mut parser = EventParser::new();
    let mut reply = ChatResponse {
        conversation_id: String::new(),
        message_id: String::new(),
        reply: String::new(),
        model: String::new(),
        citations: Vec::new(),
        usage: Default::default(),
    };
    let known =
        |reply: &ChatResponse| (!reply.conversation_id.is_empty()).then(|| reply.conversation_id.clone());
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            () = &mut stop => {
                return Ok(Streamed::Stopped { conversation_id: known(&reply), partial: reply.reply });
            }
        };
        let chunk = match chunk {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                anyhow::bail!("{url} ended the reply's stream before its end; the partial reply is stored")
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("the reply's stream from {url} broke off")));
            }
        };
        let events = parser.push(&chunk).with_context(|| format!("reading the reply's stream from {url}"))?;
        for raw in events {
            let Some(event) = StreamEvent::decode(&raw.event, &raw.data) else { continue };
            let event = event.with_context(|| format!("{url} sent a malformed `{}` event", raw.event))?;
            match event {
                StreamEvent::Start(s) => reply.conversation_id = s.conversation_id,
                StreamEvent::Citations(c) => reply.citations = c.citations,
                StreamEvent::Delta(d) => {
                    on_delta(&d.text);
                    reply.reply.push_str(&d.text);
                }
                StreamEvent::Done(d) => {
                    reply.message_id = d.message_id;
                    reply.model = d.model;
                    reply.usage = d.usage;
                    return Ok(Streamed::Done(reply));
                }
                StreamEvent::Error(e) => {
                    let error =
                        format!("{}: {} (request {})", e.error.code, e.error.message, e.error.request_id);
                    return Ok(Streamed::Failed { conversation_id: known(&reply), error });
                }
            }
        }
    }
}

fn body(message: &str, conversation: Option<&str>) -> Value {
    let mut body = json!({ "message": message });
    if let Some(c) = conversation {
        body["conversation_id"] = json!(c);
    }
    body
}

fn retry_after(response: &reqwest::Response) -> Option<String> {
    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned)
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

/// Posts the turn, retrying a timeout, a refused connection or a 409 (the same message still
/// being answered) under the same `Idempotency-Key`.
async fn post(
    client: &reqwest::Client,
    api: &ChatClient,
    body: &Value,
    accept: Option<&str>,
) -> anyhow::Result<reqwest::Response> {
    let key = idempotency_key()?;
    let mut attempt = 1;
    loop {
        let mut request =
            client.post(format!("{}/chat", api.url)).bearer_auth(&api.token).header("Idempotency-Key", &key);
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        let sent = request.json(body).send().await;
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
    .with_context(|| format!("could not reach {}/chat: is the API up? (`opsctl status`)", api.url))
}

/// The API's error as one line: status, code, message, and when to retry.
fn error_line(status: reqwest::StatusCode, retry_after: Option<String>, value: Value) -> String {
    // Refusals from in front of the handler (the function URL's, Lambda's) are not the API's error body.
    let error = serde_json::from_value::<ErrorBody>(value).ok().map(|b| b.error);
    let code = error.as_ref().map_or("error", |e| e.code.as_str());
    let text = error.as_ref().map_or("no message", |e| e.message.as_str());
    let mut line = format!("{status}: {code}: {text}");
    if let Some(secs) = retry_after {
        line.push_str(&format!(" (retry after {secs} s)"));
    }
    line
}
