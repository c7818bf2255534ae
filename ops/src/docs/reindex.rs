//! Re-indexing documents from the bucket: after a change of vector store or embedding model,
//! or to repair an index. Ingestion takes `{"reindex": [key, ...]}` and re-indexes each key even
//! when it is unchanged (or removes it from the index when the key is gone), answering its
//! usual `{"documents": [...]}`. On AWS that is a synchronous invocation of the ingest
//! function; on the local target the same JSON goes to the gateway, which runs the handler.
//!
//! Keys go a few at a time, so a person sees progress and one slow document does not hold up a
//! call for long. A call that fails as a whole is tried again one key at a time, so a transient
//! failure is reported against its own key and the others still get their verdict.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::{Value, json};

use crate::config::Target;
use crate::deployed::Deployed;
use crate::interact::Interaction;

/// Keys per call: small enough for steady progress, well within the function's timeout.
pub const KEYS_PER_CALL: usize = 5;

/// Something that runs ingestion on a re-index event.
#[async_trait]
pub trait Ingest: Send + Sync {
    /// Ingestion's verdicts on `keys`, or why the call as a whole failed.
    async fn reindex(&self, keys: &[String]) -> Result<Vec<Value>, String>;
}

/// The event the ingestion handler reads as a re-index.
pub fn event(keys: &[String]) -> Value {
    json!({ "reindex": keys })
}

/// The ingest function on AWS, invoked synchronously.
pub struct LambdaIngest {
    pub client: aws_sdk_lambda::Client,
    pub function: String,
}

#[async_trait]
impl Ingest for LambdaIngest {
    async fn reindex(&self, keys: &[String]) -> Result<Vec<Value>, String> {
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(event(keys).to_string()))
            .send()
            .await
            .map_err(|e| {
                format!("invoking {}: {}", self.function, crate::errors::explain(&anyhow::Error::new(e)))
            })?;
        let payload: Value =
            out.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or(Value::Null);
        if out.function_error().is_some() {
            let reason = payload["errorMessage"].as_str().unwrap_or("the function failed without a message");
            return Err(format!("{} failed: {reason}", self.function));
        }
        documents(&payload).ok_or_else(|| format!("{} answered without a documents list", self.function))
    }
}

/// The local target's gateway, which runs the ingestion handler in-process.
pub struct GatewayIngest {
    pub url: String,
    pub token: String,
}

#[async_trait]
impl Ingest for GatewayIngest {
    async fn reindex(&self, keys: &[String]) -> Result<Vec<Value>, String> {
        let response = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(600))
            .json(&event(keys))
            .send()
            .await
            .map_err(|e| {
                format!("could not reach the gateway at {}: {e}; `opsctl local status`", self.url)
            })?;
        let status = response.status();
        let body: Value =
            response.json().await.map_err(|_| format!("the gateway answered {status} without JSON"))?;
        if !status.is_success() {
            let reason = body["error"]["message"].as_str().unwrap_or("no reason given");
            return Err(format!("ingestion failed ({status}): {reason}"));
        }
        documents(&body).ok_or_else(|| "the gateway answered without a documents list".to_owned())
    }
}

fn documents(body: &Value) -> Option<Vec<Value>> {
    body["documents"].as_array().cloned()
}

/// How to run ingestion for `d`: the ingest function, or the local gateway.
pub async fn ingest_for(d: &Deployed) -> anyhow::Result<Box<dyn Ingest>> {
    Ok(match d.target {
        Target::Aws => Box::new(LambdaIngest {
            client: aws_sdk_lambda::Client::new(&d.sdk),
            function: d.output("IngestFunctionName")?.to_owned(),
        }),
        Target::Local => Box::new(GatewayIngest {
            url: format!("{}{}", d.api_url, crate::local::gateway::INGEST_PATH),
            token: d.token().await?,
        }),
    })
}

/// Every document key in the bucket, in key order.
pub async fn all_keys(d: &Deployed) -> anyhow::Result<Vec<String>> {
    let (_, documents) = super::list(d).await?;
    documents
        .iter()
        .map(|doc| doc["key"].as_str().map(str::to_owned).context("a listed document has no key"))
        .collect()
}

/// Every document in the bucket, indexed again (after a change of vector store, or RAG turned on
/// over documents already uploaded); nothing when the bucket is empty.
pub async fn all(d: &Deployed, ui: &dyn Interaction) -> anyhow::Result<Vec<Value>> {
    let keys = all_keys(d).await?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    ui.note(&format!("indexing the {} document(s) in the bucket into the vector store ...", keys.len()));
    let ingest = ingest_for(d).await?;
    Ok(run(ingest.as_ref(), &keys, ui).await)
}

/// Re-indexes `keys`, with a progress bar, and returns one verdict per key in the order given:
/// `indexed_chunks`, `removed`, `rejected` or `failed` (with the reason).
pub async fn run(ingest: &dyn Ingest, keys: &[String], ui: &dyn Interaction) -> Vec<Value> {
    let bar = ui.progress(keys.len() as u64, "re-indexing");
    let mut out = Vec::with_capacity(keys.len());
    for batch in keys.chunks(KEYS_PER_CALL) {
        let verdicts = match ingest.reindex(batch).await {
            Ok(answer) => verdicts_of(batch, &answer),
            Err(reason) if batch.len() == 1 => vec![json!({"key": batch[0], "failed": reason})],
            Err(_) => {
                let mut one_by_one = Vec::new();
                for key in batch {
                    let single = std::slice::from_ref(key);
                    one_by_one.extend(match ingest.reindex(single).await {
                        Ok(answer) => verdicts_of(single, &answer),
                        Err(reason) => vec![json!({"key": key, "failed": reason})],
                    });
                }
                one_by_one
            }
        };
        bar.inc(batch.len() as u64);
        if bar.is_hidden() {
            ui.detail(&format!("re-indexed {} of {} document(s)", out.len() + verdicts.len(), keys.len()));
        }
        out.extend(verdicts);
    }
    bar.finish_and_clear();
    out
}

/// The answer's verdict for each key asked about, in the order asked; a key the answer leaves
/// out is a failure, never silently indexed.
fn verdicts_of(keys: &[String], answer: &[Value]) -> Vec<Value> {
    keys.iter()
        .map(|k| {
            answer.iter().find(|d| d["key"].as_str() == Some(k.as_str())).cloned().unwrap_or_else(
                || json!({"key": k, "failed": "ingestion answered without a verdict on this key"}),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::interact::Step;

    /// Fails any call holding `docs/bad.md`, as a transient failure fails a whole invocation.
    struct Fake {
        calls: Mutex<Vec<Vec<String>>>,
    }

    #[async_trait]
    impl Ingest for Fake {
        async fn reindex(&self, keys: &[String]) -> Result<Vec<Value>, String> {
            self.calls.lock().unwrap().push(keys.to_vec());
            if keys.iter().any(|k| k == "docs/bad.md") {
                return Err("Bedrock throttled the embedding".into());
            }
            Ok(keys
                .iter()
                .filter(|k| *k != "docs/skipped.md")
                .map(|k| match k.as_str() {
                    "docs/gone.md" => json!({"key": k, "removed": true}),
                    _ => json!({"key": k, "indexed_chunks": 2}),
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn keys_go_a_few_at_a_time_and_a_failure_is_pinned_to_its_key() {
        let mut keys: Vec<String> = (0..7).map(|i| format!("docs/{i}.md")).collect();
        keys.insert(2, "docs/bad.md".into());
        keys.push("docs/gone.md".into());
        keys.push("docs/skipped.md".into());
        let fake = Fake { calls: Mutex::new(Vec::new()) };
        let verdicts = run(&fake, &keys, &Step).await;
        let got: Vec<&str> = verdicts.iter().map(|v| v["key"].as_str().unwrap()).collect();
        assert_eq!(got, keys.iter().map(String::as_str).collect::<Vec<_>>(), "one verdict per key, in order");
        assert_eq!(verdicts[2]["failed"], "Bedrock throttled the embedding");
        assert_eq!(verdicts[0]["indexed_chunks"], 2);
        assert_eq!(verdicts[1]["indexed_chunks"], 2, "the failed call's other keys are retried alone");
        assert_eq!(verdicts[8]["removed"], true);
        assert!(verdicts[9]["failed"].as_str().unwrap().contains("without a verdict"));
        let calls = fake.calls.lock().unwrap();
        assert!(calls.iter().all(|c| c.len() <= KEYS_PER_CALL));
        // 10 keys: two calls of 5, the first failing and tried again as 5 calls of 1.
        assert_eq!(calls.len(), 2 + 5, "{calls:?}");
    }

    /// The local gateway: the same event, the API token, and its error body read on a 503.
    #[tokio::test]
    async fn the_gateway_gets_the_event_with_the_token_and_its_errors_are_read() {
        use axum::http::{HeaderMap, StatusCode};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/_local/ingest", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(|headers: HeaderMap, body: String| async move {
            let event: Value = serde_json::from_str(&body).unwrap();
            let authorised = headers.get("authorization").is_some_and(|v| v == "Bearer t0ken");
            let key = event["reindex"][0].as_str().unwrap_or_default().to_owned();
            if !authorised || key == "docs/busy.md" {
                let body = json!({"error": {"code": "ingest_failed", "message": "the index is busy"}});
                return (StatusCode::SERVICE_UNAVAILABLE, body.to_string());
            }
            (StatusCode::OK, json!({"documents": [{"key": key, "indexed_chunks": 1}]}).to_string())
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let gateway = GatewayIngest { url, token: "t0ken".into() };
        let ok = gateway.reindex(&["docs/a.md".into()]).await.unwrap();
        assert_eq!(ok, vec![json!({"key": "docs/a.md", "indexed_chunks": 1})]);
        let err = gateway.reindex(&["docs/busy.md".into()]).await.unwrap_err();
        assert!(err.contains("503") && err.contains("the index is busy"), "{err}");
    }

    #[test]
    fn the_event_is_the_handlers_reindex_shape() {
        assert_eq!(event(&["docs/a.md".into()]), json!({"reindex": ["docs/a.md"]}));
    }
}
