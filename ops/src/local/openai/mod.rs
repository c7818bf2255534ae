//! An OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM…) as the local target's
//! [`ChatModel`], chosen with `openai:<base-url>#<model>`; `local` keeps the development double.

mod sse;
mod stream;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chatbot_core::domain::api::Usage;
use chatbot_core::domain::prompt::Prompt;
use chatbot_core::ports::{ChatModel, ModelError, ModelReply, ModelStream};
use serde::Serialize;
use serde_json::{Value, json};

pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// Replies name their source with this prefix, as the development model names itself.
pub const MODEL_PREFIX: &str = "openai:";
const EXAMPLE: &str = "openai:http://127.0.0.1:11434/v1#llama3.2";
/// A chat reply is a few KiB; anything near this is a misconfigured endpoint, not an answer.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Servers' error messages are quoted to the operator; a long one is a dump, not a message.
const MAX_ERROR_CHARS: usize = 300;
/// Used when a 429 carries no usable `Retry-After`.
pub const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// A local server that is down usually needs a person to start it; retrying at once won't help.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Which chat model the local target runs, as given on the command line and kept in its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelSpec {
    #[default]
    Local,
    OpenAi {
        base_url: String,
        model: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid model `{given}`: {problem}; expected `local` or `openai:<base-url>#<model>`, e.g. `{EXAMPLE}`"
)]
pub struct ModelSpecError {
    given: String,
    problem: String,
}

impl FromStr for ModelSpec {
    type Err = ModelSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |problem: &str| ModelSpecError { given: s.to_owned(), problem: problem.to_owned() };
        if s == "local" {
            return Ok(Self::Local);
        }
        let rest = s.strip_prefix(MODEL_PREFIX).ok_or_else(|| fail("unknown kind"))?;
        let (base_url, model) = rest.split_once('#').ok_or_else(|| fail("the `#<model>` part is missing"))?;
        if model.trim().is_empty() {
            return Err(fail("the model after `#` is empty"));
        }
        let url =
            reqwest::Url::parse(base_url).map_err(|e| fail(&format!("the base URL is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(fail("the base URL must start with http:// or https:// and name a host"));
        }
        if url.query().is_some() {
            return Err(fail("the base URL must not have a query"));
        }
        // The spec is stored in the state file and quoted in errors: a key must not ride in it.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ModelSpecError {
                given: format!("{MODEL_PREFIX}<redacted>#{model}"),
                problem: format!("the base URL must not carry credentials; set {API_KEY_ENV} instead"),
            });
        }
        Ok(Self::OpenAi { base_url: base_url.to_owned(), model: model.to_owned() })
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::OpenAi { base_url, model } => write!(f, "{MODEL_PREFIX}{base_url}#{model}"),
        }
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ModelSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Deliberately not `Debug`: it holds the API key.
pub struct OpenAiChatModel {
    client: reqwest::Client,
    server: Server,
    model: String,
    id: String,
    max_tokens: u32,
    api_key: Option<String>,
}

/// Where the model is served, for calls and for the errors that name it; a streamed reply keeps
/// a copy after `stream()` returns.
#[derive(Clone)]
struct Server {
    endpoint: String,
    base_url: String,
    timeout: Duration,
}

impl OpenAiChatModel {
    /// A model without an API key, as local servers expect.
    pub fn new(base_url: &str, model: &str, timeout: Duration) -> anyhow::Result<Self> {
        // The timeout covers the whole call, a streamed body included: a streamed reply must
        // finish as soon as a whole one, which the local target's idempotency lease counts on.
        let mut client = reqwest::Client::builder().timeout(timeout);
        // An HTTP(S)_PROXY meant for the internet must not swallow calls to a server on this machine.
        if is_loopback(base_url) {
            client = client.no_proxy();
        }
        let client = client.build()?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        Ok(Self {
            client,
            server: Server { endpoint: format!("{base_url}/chat/completions"), base_url, timeout },
            model: model.to_owned(),
            id: format!("{MODEL_PREFIX}{model}"),
            max_tokens: DEFAULT_MAX_TOKENS,
            api_key: None,
        })
    }

    /// Like [`Self::new`], with the bearer key from `OPENAI_API_KEY` when it is set.
    pub fn from_env(base_url: &str, model: &str, timeout: Duration) -> anyhow::Result<Self> {
        let key = std::env::var(API_KEY_ENV).ok().filter(|k| !k.trim().is_empty());
        Ok(Self::new(base_url, model, timeout)?.with_api_key(key))
    }

    pub fn with_api_key(self, api_key: Option<String>) -> Self {
        Self { api_key, ..self }
    }

    pub fn with_max_tokens(self, max_tokens: u32) -> Self {
        Self { max_tokens, ..self }
    }

    /// The chat-completions request; a streamed one also asks for the usage, which servers
    /// otherwise leave out of a stream.
    fn request(&self, prompt: &Prompt, stream: bool) -> Value {
        let system = json!({ "role": "system", "content": prompt.system });
        let turns = prompt
            .parts()
            .into_iter()
            .map(|(role, parts)| json!({ "role": role.as_str(), "content": parts.join("\n\n") }));
        let messages: Vec<Value> = std::iter::once(system).chain(turns).collect();
        let mut request = json!({
            "model": self.model, "messages": messages, "max_tokens": self.max_tokens, "stream": stream,
        });
        if stream {
            request["stream_options"] = json!({ "include_usage": true });
        }
        request
    }

    /// Sends the request; a status error is read and mapped here, so only a 2xx response (its
    /// body unread) comes back.
    async fn send(&self, request: &Value) -> Result<reqwest::Response, ModelError> {
        let mut call = self.client.post(&self.server.endpoint).json(request);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.map_err(|e| self.server.transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = self.server.read_body(response).await?;
        Err(match status.as_u16() {
            429 => ModelError::Throttled { retry_after: retry_after.unwrap_or(THROTTLED_RETRY_AFTER) },
            408 | 500 | 502..=504 => {
                let what = format!("{} answered {status} ({})", self.server.endpoint, server_message(&body));
                self.server.unavailable(&what, retry_after)
            }
            _ => ModelError::Failed {
                reason: format!("{} answered {status}: {}", self.server.endpoint, server_message(&body)),
            },
        })
    }

    fn reply(&self, body: &[u8]) -> Result<ModelReply, ModelError> {
        let failed = |what: &str| ModelError::Failed {
            reason: format!("{} answered 200 but {what}", self.server.endpoint),
        };
        let v: Value = serde_json::from_slice(body).map_err(|_| failed("the body is not JSON"))?;
        let choice = v.pointer("/choices/0").ok_or_else(|| failed("without `choices[0]`"))?;
        let text = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("`choices[0].message.content` is missing or not a string"))?;
        let finish = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("none");
        if finish == "length" {
            tracing::warn!(model = %self.id, max_tokens = self.max_tokens, "reply cut at max_tokens");
        }
        if text.is_empty() {
            return Err(failed(&format!("with no text (finish reason {finish})")));
        }
        let model = v.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()).unwrap_or(&self.model);
        Ok(ModelReply { text: text.to_owned(), model: format!("{MODEL_PREFIX}{model}"), usage: usage(&v) })
    }
}

impl Server {
    fn unavailable(&self, what: &str, retry_after: Option<Duration>) -> ModelError {
        let reason = format!("{what}: is Ollama/llama.cpp running at {}?", self.base_url);
        ModelError::Unavailable { retry_after: retry_after.unwrap_or(UNAVAILABLE_RETRY_AFTER), reason }
    }

    fn transport(&self, e: &reqwest::Error) -> ModelError {
        if e.is_timeout() {
            return self
                .unavailable(&format!("{} did not answer within {:?}", self.endpoint, self.timeout), None);
        }
        // reqwest's own message only repeats the URL; the cause (connection refused, DNS…) is in
        // the chain below it.
        let causes: Vec<String> = std::iter::successors(std::error::Error::source(e), |s| s.source())
            .map(|s| s.to_string())
            .collect();
        let cause = if causes.is_empty() { e.to_string() } else { causes.join(": ") };
        self.unavailable(&format!("could not reach {} ({cause})", self.endpoint), None)
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ModelError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                let reason = format!("{} sent a body over {} MiB", self.endpoint, MAX_BODY_BYTES >> 20);
                return Err(ModelError::Failed { reason });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait]
impl ChatModel for OpenAiChatModel {
    fn id(&self) -> &str {
        &self.id
    }

    async fn complete(&self, prompt: &Prompt) -> Result<ModelReply, ModelError> {
        let response = self.send(&self.request(prompt, false)).await?;
        let body = self.server.read_body(response).await?;
        self.reply(&body)
    }

    /// `stream: true`: a status error is returned here as `complete()` returns it; the body's
    /// Server-Sent Events become the reply's items (see [`stream`]).
    async fn stream(&self, prompt: &Prompt) -> Result<ModelStream, ModelError> {
        let response = self.send(&self.request(prompt, true)).await?;
        Ok(stream::events(response, self.server.clone(), &self.model, self.max_tokens))
    }
}

/// `usage.prompt_tokens` and `usage.completion_tokens`, zero when absent.
fn usage(v: &Value) -> Usage {
    let tokens = |field: &str| {
        v.pointer(&format!("/usage/{field}"))
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Usage { input_tokens: tokens("prompt_tokens"), output_tokens: tokens("completion_tokens") }
}

/// The server's own explanation: OpenAI's `error.message`, or the shapes other servers use.
fn server_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = ["/error/message", "/error", "/message", "/detail"]
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        .unwrap_or("no error message");
    text.chars().filter(|c| !c.is_control()).take(MAX_ERROR_CHARS).collect()
}

fn is_loopback(base_url: &str) -> bool {
    let url = reqwest::Url::parse(base_url).ok();
    let host = url.as_ref().and_then(|u| u.host_str()).unwrap_or_default();
    let ip = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>();
    host == "localhost" || ip.is_ok_and(|ip| ip.is_loopback())
}
