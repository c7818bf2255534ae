//! Exporting conversations, decrypted through the same envelope cipher the chat Lambda uses, as
//! JSON Lines: `{"record": "message", conversation_id, timestamp, role, content, model, status,
//! citations}` for each message, and `{"record": "conversation", conversation_id, title, created,
//! updated, message_count}` for each conversation's listing entry.
//!
//! An item that is malformed or does not decrypt is reported (its key and why, never content)
//! and left out; the others are written, and the exit status is 1. Idempotency records share the
//! table; they are not messages and are passed over.
//!
//! It streams: one page of items is read, decrypted and written before the next is asked for,
//! so memory stays flat however large the table. The file is written beside its final name
//! and renamed when complete, readable by its owner only: it holds the conversations in clear.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use chatbot_core::aws::document_status::is_status_record;
use chatbot_core::aws::dynamodb::{from_item, is_listing, listing_entry, reason, sort_key_of};
use chatbot_core::aws::idempotency::is_idempotency_record;
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::aws::sign_in_codes::is_sign_in_code;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::ConversationId;
use chatbot_core::handlers::chat::{open_title, open_with};
use chatbot_core::ports::Cipher;
use serde_json::json;

use crate::deployed::Deployed;

/// Items per DynamoDB page: enough to keep calls few, few enough to keep memory flat.
const PAGE: i32 = 200;

type Item = HashMap<String, AttributeValue>;

pub struct Summary {
    pub messages: usize,
    pub conversations: usize,
    /// Each item that was malformed or would not decrypt.
    pub failed: Vec<Failed>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Failed {
    /// `conversation_id/timestamp`, as far as the item has them.
    pub item: String,
    /// What is wrong with it, without any of its content.
    pub reason: String,
}

fn label(item: &Item) -> String {
    let conversation: String = item
        .get("conversation_id")
        .and_then(|v| v.as_s().ok())
        .map_or_else(|| "?".to_owned(), |s| s.chars().take(100).collect());
    format!("{conversation}/{}", sort_key_of(item).unwrap_or_else(|| "?".to_owned()))
}

/// Writes one conversation, or all of them, to `out` as JSON Lines.
pub async fn export(
    d: &Deployed,
    conversation: Option<ConversationId>,
    out: &Path,
) -> anyhow::Result<Summary> {
    if out.exists() {
        bail!("{} already exists: choose another --out, or move it away first", out.display());
    }
    let table = d.output("TableName")?;
    let keys = KmsDataKeys::new(aws_sdk_kms::Client::new(&d.sdk), d.output("KeyArn")?, d.env.as_str());
    let cipher = EnvelopeCipher::new(keys);
    let db = aws_sdk_dynamodb::Client::new(&d.sdk);
    let partial = partial_path(out);
    let mut file = std::io::BufWriter::new(create_private(&partial)?);
    let mut summary = Summary { messages: 0, conversations: 0, failed: Vec::new() };
    let mut seen = std::collections::HashSet::new();
    let mut start: Option<Item> = None;
    let result: anyhow::Result<()> = async {
        loop {
            let (items, next) = match &conversation {
                Some(id) => {
                    let page = db
                        .query()
                        .table_name(table)
                        .key_condition_expression("conversation_id = :c")
                        .expression_attribute_values(":c", AttributeValue::S(id.to_string()))
                        .limit(PAGE)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .with_context(|| format!("reading {table}"))?;
                    (page.items, page.last_evaluated_key)
                }
                None => {
                    let page = db
                        .scan()
                        .table_name(table)
                        .limit(PAGE)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .with_context(|| format!("reading {table}"))?;
                    (page.items, page.last_evaluated_key)
                }
            };
            for item in items.unwrap_or_default() {
                // Not conversations: the chat API's retry records, sign-in codes and the documents' index status.
                if is_idempotency_record(&item) || is_sign_in_code(&item) || is_status_record(&item) {
                    continue;
                }
                if is_listing(&item) {
                    match conversation_line(&cipher, &item).await {
                        Ok(line) => writeln!(file, "{line}").context("writing the export")?,
                        Err(reason) => summary.failed.push(Failed { item: label(&item), reason }),
                    }
                    continue;
                }
                let sealed = match from_item(&item) {
                    Ok(sealed) => sealed,
                    Err(e) => {
                        summary.failed.push(Failed { item: label(&item), reason: reason(e) });
                        continue;
                    }
                };
                let label = format!("{}/{}", sealed.conversation_id, sealed.sort_key);
                let conversation_id = sealed.conversation_id.to_string();
                match open_with(&cipher, sealed).await {
                    Ok(m) => {
                        let timestamp = m.sort_key.as_str().split('#').next().unwrap_or_default().to_owned();
                        let line = json!({"record": "message", "conversation_id": conversation_id,
                            "timestamp": timestamp, "role": m.role.as_str(), "content": m.content, "model": m.model,
                            "status": m.status.map(|s| s.as_str()), "citations": m.citations});
                        writeln!(file, "{line}").context("writing the export")?;
                        summary.messages += 1;
                        if seen.insert(conversation_id) {
                            summary.conversations += 1;
                        }
                    }
                    Err(e) => summary.failed.push(Failed { item: label, reason: e.to_string() }),
                }
            }
            match next {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }
    .await;
    let finished = result.and_then(|()| {
        file.flush()?;
        file.get_ref().sync_all()?;
        Ok(())
    });
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(summary)
}

/// A conversation's listing entry as an export line: its title, opened, and its times.
async fn conversation_line(cipher: &dyn Cipher, item: &Item) -> Result<serde_json::Value, String> {
    let entry = listing_entry(item).map_err(reason)?;
    let title = match &entry.title {
        Some(sealed) => {
            Some(open_title(cipher, &entry.conversation_id, sealed).await.map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok(json!({"record": "conversation", "conversation_id": entry.conversation_id.to_string(), "title": title,
        "created": entry.created, "updated": entry.updated, "message_count": entry.message_count}))
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(|| {
        format!("creating {} (is a previous export's partial file left there?)", path.display())
    })
}
