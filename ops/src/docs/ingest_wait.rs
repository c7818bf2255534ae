//! On AWS, the bucket notifies the ingestion Lambda on its own; this waits for the Lambda's
//! verdict on each uploaded (or deleted) key by reading its JSON log lines, which carry `key`,
//! `outcome` and `chunks` (see `chatbot_core::handlers::ingest`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_smithy_types::DateTime;
use serde_json::{Value, json};

use crate::deployed::Deployed;
use crate::interact::Interaction;

const POLL: Duration = Duration::from_secs(5);

/// What the log says of each key, or a timeout entry for those it never mentions.
pub async fn wait(
    d: &Deployed,
    ui: &dyn Interaction,
    keys: &[String],
    since: DateTime,
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let group = format!("/aws/lambda/{}", d.output("IngestFunctionName")?);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&d.sdk);
    // Lambda's clock and ours may differ a little; the log lines name their key anyway.
    let start = since.to_millis().unwrap_or_default() - 30_000;
    let mut verdicts: BTreeMap<&str, Value> = BTreeMap::new();
    let deadline = Instant::now() + timeout;
    let progress = Some(ui.spinner()).filter(|bar| !bar.is_hidden());
    let mut last_line = Instant::now();
    loop {
        let lines = read_lines(&logs, &group, start).await?;
        for line in &lines {
            if let Some((key, verdict)) = verdict_of(line)
                && let Some(k) = keys.iter().find(|k| **k == key)
            {
                verdicts.insert(k.as_str(), verdict);
            }
        }
        let pending: Vec<&str> =
            keys.iter().map(String::as_str).filter(|k| !verdicts.contains_key(k)).collect();
        if pending.is_empty() || Instant::now() >= deadline {
            if let Some(bar) = &progress {
                bar.finish_and_clear();
            }
            let mut out: Vec<Value> = keys
                .iter()
                .map(|k| {
                    verdicts.get(k.as_str()).cloned().unwrap_or_else(|| {
                        json!({"key": k, "failed": format!(
                            "no verdict from the ingestion Lambda within {} s; it may still be running: read {group}",
                            timeout.as_secs())})
                    })
                })
                .collect();
            out.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
            return Ok(out);
        }
        let message = format!(
            "waiting for the ingestion Lambda: {} of {} document(s) done ({} s left)",
            keys.len() - pending.len(),
            keys.len(),
            deadline.saturating_duration_since(Instant::now()).as_secs()
        );
        match &progress {
            Some(bar) => bar.set_message(message),
            None if last_line.elapsed() >= Duration::from_secs(15) => {
                ui.note(&message);
                last_line = Instant::now();
            }
            None => {}
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

async fn read_lines(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start: i64,
) -> anyhow::Result<Vec<String>> {
    // The group appears with the Lambda's first log line.
    let events = crate::logs::read_group(logs, group, start, None).await?.unwrap_or_default();
    Ok(events.into_iter().map(|(_, _, message)| message).collect())
}

/// The key and verdict a log line carries, if it is one of the handler's per-document lines. A
/// transient failure is not a verdict: Lambda retries it.
pub fn verdict_of(line: &str) -> Option<(String, Value)> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let key = v["key"].as_str()?.to_owned();
    let verdict = match v["message"].as_str()? {
        "document done" => match v["outcome"].as_str()? {
            "indexed" => json!({"key": key, "indexed_chunks": v["chunks"].as_u64().unwrap_or(0)}),
            "unchanged" => json!({"key": key, "unchanged": true}),
            "removed" => json!({"key": key, "removed": true}),
            // A removal of a key uploaded again since: its chunks stay.
            "kept" => json!({"key": key, "kept": true}),
            _ => return None,
        },
        m if m.starts_with("document rejected") => {
            json!({"key": key, "rejected": v["error"].as_str().unwrap_or("rejected")})
        }
        _ => return None,
    };
    Some((key, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_handlers_log_lines() {
        let done = r#"{"level":"INFO","message":"document done","key":"docs/a.md","outcome":"indexed","chunks":4,"elapsed_ms":9}"#;
        assert_eq!(
            verdict_of(done),
            Some(("docs/a.md".into(), json!({"key": "docs/a.md", "indexed_chunks": 4})))
        );
        let rejected = r#"{"message":"document rejected; fix it and upload again","key":"docs/b.pdf","error":"encrypted"}"#;
        assert_eq!(verdict_of(rejected).unwrap().1["rejected"], "encrypted");
        let retried = r#"{"message":"document failed; will be retried","key":"docs/c.md","error":"x"}"#;
        assert_eq!(verdict_of(retried), None);
        assert_eq!(verdict_of("START RequestId: 1"), None);
    }
}
