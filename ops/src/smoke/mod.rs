//! The end-to-end checks of a deployed environment, AWS or the local target: health, the web app
//! (its page, policy and assets), a chat turn, memory, encryption at rest, a streamed turn, the
//! conversations API, the API's errors, and RAG. Each check passes, fails or is skipped with its
//! duration. Every conversation and document the checks create is deleted at the end,
//! whatever happened before.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use chatbot_core::domain::api::{ChatResponse, HealthResponse};
use chatbot_core::domain::error::ErrorBody;
use serde_json::{Value, json};

use crate::config::Target;
use crate::deployed::Deployed;
use crate::docs::{self, Upload};
use crate::interact::Interaction;

mod conversation_api;
pub mod junit;
pub mod web_app;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    pub duration: Duration,
}

struct Runner<'a> {
    on_result: &'a mut dyn FnMut(&CheckResult),
    results: Vec<CheckResult>,
}

impl Runner<'_> {
    async fn check<T>(
        &mut self,
        name: &'static str,
        check: impl std::future::Future<Output = anyhow::Result<(T, String)>>,
    ) -> Option<T> {
        let started = Instant::now();
        let (verdict, detail, value) = match check.await {
            Ok((value, detail)) => (Verdict::Pass, detail, Some(value)),
            Err(e) => (Verdict::Fail(format!("{e:#}")), String::new(), None),
        };
        self.record(CheckResult { name, verdict, detail, duration: started.elapsed() });
        value
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        self.record(CheckResult {
            name,
            verdict: Verdict::Skip(why.into()),
            detail: String::new(),
            duration: Duration::ZERO,
        });
    }

    fn record(&mut self, r: CheckResult) {
        (self.on_result)(&r);
        self.results.push(r);
    }
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn post(
        &self,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}/chat", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.with_context(|| format!("could not reach {}/chat", self.url))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    async fn chat(&self, message: &str, conversation: Option<&str>) -> anyhow::Result<ChatResponse> {
        let mut body = json!({ "message": message });
        if let Some(c) = conversation {
            body["conversation_id"] = json!(c);
        }
        let (status, reply) = self.post(body.to_string(), Some(&self.token)).await?;
        if status != 200 {
            let error = serde_json::from_value::<ErrorBody>(reply).ok().map(|b| b.error.message);
            bail!("POST /chat answered {status}: {}", error.as_deref().unwrap_or("?"));
        }
        serde_json::from_value(reply).context("the reply is not a chat reply")
    }
}

/// What a smoke run found.
pub struct SmokeRun {
    pub results: Vec<CheckResult>,
    pub elapsed: Duration,
}

/// Runs every check against `d`, handing each result to `on_result` as it comes.
pub async fn run(
    d: &Deployed,
    ui: &dyn Interaction,
    rag_timeout: Duration,
    on_result: &mut dyn FnMut(&CheckResult),
) -> anyhow::Result<SmokeRun> {
    let api = Api {
        http: reqwest::Client::builder().timeout(Duration::from_secs(90)).build()?,
        token: d.token().await?,
        url: d.api_url.clone(),
    };
    let nonce = format!("{:08x}", rand_u32());
    let code_word = format!("heron-{nonce}");
    let mut runner = Runner { on_result, results: Vec::new() };
    let mut conversations: Vec<String> = Vec::new();
    let started = Instant::now();

    runner.check("health", health(&api)).await;
    runner.check("web_app", web_app::check(&api.http, &api.url)).await;
    let first = format!("Please remember this code word for later: {code_word}.");
    let conversation = runner.check("chat", first_turn(&api, &first)).await;
    if let Some(id) = &conversation {
        conversations.push(id.clone());
        runner.check("memory", second_turn(&api, id, &code_word)).await;
        runner.check("ciphertext", ciphertext(d, id, &code_word)).await;
        runner.check("stream", conversation_api::stream(&api, id)).await;
        runner.check("listed", conversation_api::listed(&api, id)).await;
        runner.check("delete", conversation_api::delete(&api, d, id)).await;
    } else {
        for name in ["memory", "ciphertext", "stream", "listed", "delete"] {
            runner.record(CheckResult {
                name,
                verdict: Verdict::Fail("needs the chat check, which failed".into()),
                detail: String::new(),
                duration: Duration::ZERO,
            });
        }
    }
    runner
        .check("bad_json", status_of(&api, "{\"message\": \"cut sh".to_owned(), Some(&api.token), 400))
        .await;
    let oversize = json!({ "message": "x".repeat(40 * 1024) }).to_string();
    runner.check("oversize", status_of(&api, oversize, Some(&api.token), 413)).await;
    runner.check("no_token", status_of(&api, json!({"message": "hello"}).to_string(), None, 401)).await;

    let mut uploaded: Option<String> = None;
    if d.rag {
        let rag = Rag { ui, d, api: &api, nonce: &nonce, timeout: rag_timeout };
        uploaded = runner.check("rag_upload", rag.upload()).await;
        if let Some(key) = &uploaded {
            runner.check("rag_answer", rag.ask(key, &mut conversations)).await;
            if runner.check("rag_delete", rag.delete(key)).await.is_some() {
                uploaded = None;
            }
        }
    } else {
        for name in ["rag_upload", "rag_answer", "rag_delete"] {
            runner.skip(name, "RAG is off in this environment");
        }
    }
    runner.check("cleanup", cleanup(ui, d, &conversations, uploaded.as_deref())).await;

    Ok(SmokeRun { results: runner.results, elapsed: started.elapsed() })
}

pub fn target_name(d: &Deployed) -> &'static str {
    match d.target {
        Target::Aws => "aws",
        Target::Local => "local",
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    // A clock-derived fallback is enough for a name that only has to be unlikely to clash.
    if getrandom::getrandom(&mut b).is_err() {
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

async fn health(api: &Api) -> anyhow::Result<((), String)> {
    let resp = api
        .http
        .get(format!("{}/health", api.url))
        .send()
        .await
        .with_context(|| format!("could not reach {}/health", api.url))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let health = serde_json::from_value::<HealthResponse>(body.clone()).ok().filter(|h| h.status == "ok");
    let Some(health) = health.filter(|_| status == 200) else {
        bail!("GET /health answered {status}: {body}");
    };
    Ok(((), format!("version {}, rag {}", health.version, health.rag_enabled)))
}

async fn first_turn(api: &Api, message: &str) -> anyhow::Result<(String, String)> {
    let reply = api.chat(message, None).await?;
    ensure!(!reply.reply.trim().is_empty(), "the reply is empty");
    let id = reply.conversation_id;
    Ok((id.clone(), format!("conversation {id}, model {}", reply.model)))
}

async fn second_turn(api: &Api, conversation: &str, code_word: &str) -> anyhow::Result<((), String)> {
    let reply = api
        .chat("What code word did I ask you to remember? Answer with the code word only.", Some(conversation))
        .await?;
    let text = &reply.reply;
    ensure!(
        text.contains(code_word),
        "the second reply does not recall the first turn's code word {code_word}: {text:?}"
    );
    Ok(((), "the second turn recalled the first".into()))
}

/// The stored items of the conversation hold ciphertext: neither turn's words appear in them.
async fn ciphertext(d: &Deployed, conversation: &str, code_word: &str) -> anyhow::Result<((), String)> {
    let table = d.output("TableName")?;
    let all = conversation_items(d, table, conversation).await?;
    let (entries, items): (Vec<_>, Vec<_>) =
        all.into_iter().partition(chatbot_core::aws::dynamodb::is_listing);
    ensure!(items.len() >= 4, "expected at least 4 stored messages (2 turns), found {}", items.len());
    ensure!(entries.len() == 1, "expected the conversation's listing entry, found {}", entries.len());
    // The title is the first message's text: it must be sealed like the messages.
    let title = match entries[0].get("title") {
        Some(AttributeValue::B(blob)) => blob.as_ref().to_vec(),
        _ => bail!("the conversation's listing entry has no binary `title` attribute"),
    };
    ensure!(
        !title.windows(code_word.len()).any(|w| w == code_word.as_bytes()),
        "the conversation's title holds the code word in clear"
    );
    for item in &items {
        let Some(AttributeValue::B(blob)) = item.get("content") else {
            bail!("a stored message has no binary `content` attribute");
        };
        let blob = blob.as_ref();
        ensure!(
            !blob.windows(code_word.len()).any(|w| w == code_word.as_bytes()),
            "a stored message holds the code word in clear"
        );
        let phrase = b"remember this code word";
        ensure!(!blob.windows(phrase.len()).any(|w| w == phrase), "a stored message holds its text in clear");
    }
    Ok(((), format!("{} stored messages and their title, none in clear", items.len())))
}

type Item = std::collections::HashMap<String, AttributeValue>;

async fn conversation_items(d: &Deployed, table: &str, conversation: &str) -> anyhow::Result<Vec<Item>> {
    let db = aws_sdk_dynamodb::Client::new(&d.sdk);
    let mut pages = db
        .query()
        .table_name(table)
        .key_condition_expression("conversation_id = :c")
        .expression_attribute_values(":c", AttributeValue::S(conversation.to_owned()))
        .into_paginator()
        .items()
        .send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(item.with_context(|| format!("reading the conversation from {table}"))?);
    }
    Ok(items)
}

async fn status_of(
    api: &Api,
    body: String,
    token: Option<&str>,
    expected: u16,
) -> anyhow::Result<((), String)> {
    let (status, reply) = api.post(body, token).await?;
    ensure!(status == expected, "expected {expected}, got {status}: {reply}");
    let body = serde_json::from_value::<ErrorBody>(reply).context("the error has no `error.code`")?;
    Ok(((), format!("{status} {}", body.error.code)))
}

struct Rag<'a> {
    ui: &'a dyn Interaction,
    d: &'a Deployed,
    api: &'a Api,
    nonce: &'a str,
    timeout: Duration,
}

impl Rag<'_> {
    fn harbour(&self) -> String {
        format!("Quillmere-{}", self.nonce)
    }

    async fn upload(&self) -> anyhow::Result<(String, String)> {
        let dir = std::env::temp_dir().join(format!("opsctl-smoke-{}", self.nonce));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("smoke-{}.md", self.nonce));
        let text = format!(
            "# Smoke test document {nonce}\n\nThis document was generated by `opsctl smoke` and is deleted when it ends.\n\n\
             ## The secret harbour\n\nThe secret harbour of the smoke test is called {harbour}. Boats reach {harbour} at dawn.\n",
            nonce = self.nonce,
            harbour = self.harbour()
        );
        std::fs::write(&path, &text)?;
        let key = format!("{}smoke-{}.md", docs::PREFIX, self.nonce);
        let upload = Upload { path: path.clone(), key: key.clone(), size: text.len() as u64 };
        let result = docs::put_files(self.d, self.ui, &[upload], self.timeout).await;
        let _ = std::fs::remove_dir_all(&dir);
        let results = result?;
        let chunks = results.first().and_then(|r| r["indexed_chunks"].as_u64());
        match chunks {
            Some(n) if n > 0 => Ok((key, format!("{n} chunk(s) indexed"))),
            // Uploaded but not indexed: still ours to delete.
            _ => bail!("the document was not indexed: {}", results.first().cloned().unwrap_or_default()),
        }
    }

    /// Asks about the document's made-up fact until the answer names it and cites the document.
    /// On AWS a fresh write takes a while to become searchable (OpenSearch Serverless has no
    /// refresh), so the question is repeated for up to a minute; every conversation it opens is
    /// recorded for the cleanup.
    async fn ask(&self, key: &str, conversations: &mut Vec<String>) -> anyhow::Result<((), String)> {
        let patience = match self.d.target {
            Target::Aws => Duration::from_secs(60),
            Target::Local => Duration::ZERO,
        };
        let deadline = Instant::now() + patience;
        loop {
            let reply = self.api.chat("What is the secret harbour of the smoke test called?", None).await?;
            conversations.push(reply.conversation_id.clone());
            let text = reply.reply.as_str();
            let cited = reply.citations.iter().any(|c| c.source == key);
            if text.contains(&self.harbour()) && cited {
                return Ok(((), format!("answered from {key}, cited")));
            }
            if Instant::now() >= deadline {
                ensure!(
                    text.contains(&self.harbour()),
                    "the answer does not name {}: {text:?}",
                    self.harbour()
                );
                bail!("the answer does not cite {key}: {}", serde_json::to_string(&reply.citations)?);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<((), String)> {
        let results = docs::remove_keys(self.d, self.ui, &[key.to_owned()], self.timeout).await?;
        ensure!(
            results.first().is_some_and(|r| r.get("removed").is_some()),
            "not removed from the index: {results:?}"
        );
        Ok(((), format!("{key} removed")))
    }
}

/// Deletes every message of the checks' conversations and the document if it is still there.
async fn cleanup(
    ui: &dyn Interaction,
    d: &Deployed,
    conversations: &[String],
    document: Option<&str>,
) -> anyhow::Result<((), String)> {
    let table = d.output("TableName")?;
    let db = aws_sdk_dynamodb::Client::new(&d.sdk);
    let mut deleted = 0;
    for conversation in conversations {
        for item in conversation_items(d, table, conversation).await? {
            let (Some(c), Some(ts)) = (item.get("conversation_id"), item.get("timestamp")) else { continue };
            db.delete_item()
                .table_name(table)
                .key("conversation_id", c.clone())
                .key("timestamp", ts.clone())
                .send()
                .await
                .with_context(|| format!("deleting a message of the smoke conversation {conversation}"))?;
            deleted += 1;
        }
    }
    if let Some(key) = document {
        docs::remove_keys(d, ui, &[key.to_owned()], Duration::from_secs(60)).await?;
    }
    Ok(((), format!("{deleted} message(s) of {} conversation(s) deleted", conversations.len())))
}
