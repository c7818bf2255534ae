//! The documents' status records in the conversations table, in a partition of their own:
//! `conversation_id = "document-status"`, `timestamp = <the document's key>`. One Query reads
//! them all for a listing; the ingest role may write only this partition (IAM's
//! `dynamodb:LeadingKeys`), and no conversation id (a UUID) or idempotency record
//! (`idempotency#...`) can share it.
//!
//! A record holds no document content: the key, the version and digest it describes, the
//! chunk count or the reason for a failure, and when it was written. It carries no `ttl`: it
//! lives as long as the document, and ingestion deletes it with the document.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::ports::{DocumentStatus, DocumentStatuses, IndexState, StatusError};

/// The partition that holds every status record.
pub const STATUS_PARTITION: &str = "document-status";

type Item = HashMap<String, AttributeValue>;

/// Whether a raw item of the table is a document's status record (the export skips them).
pub fn is_status_record(item: &Item) -> bool {
    item.get("conversation_id").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk == STATUS_PARTITION)
}

pub struct DynamoStatuses {
    client: Client,
    table: String,
}

impl DynamoStatuses {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn failed(what: &str, e: impl std::error::Error) -> StatusError {
    StatusError(format!("{what}: {}", super::describe(&e)))
}

pub fn to_item(status: &DocumentStatus) -> Item {
    let mut item = Item::from([
        ("conversation_id".to_owned(), s(STATUS_PARTITION)),
        ("timestamp".to_owned(), s(&status.key)),
        ("version".to_owned(), s(&status.version)),
        ("sha256".to_owned(), s(&status.sha256)),
        ("recorded_at".to_owned(), s(&status.recorded_at)),
    ]);
    match &status.state {
        IndexState::Indexed { chunks } => {
            item.insert("status".to_owned(), s("indexed"));
            item.insert("chunks".to_owned(), AttributeValue::N(chunks.to_string()));
        }
        IndexState::Failed { reason } => {
            item.insert("status".to_owned(), s("failed"));
            item.insert("reason".to_owned(), s(reason));
        }
    }
    item
}

pub fn from_item(item: &Item) -> Result<DocumentStatus, StatusError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| StatusError(format!("a status record lacks `{name}`")))
    };
    let state = match text("status")?.as_str() {
        "indexed" => IndexState::Indexed {
            chunks: item
                .get("chunks")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| StatusError("an indexed record lacks `chunks`".into()))?,
        },
        "failed" => IndexState::Failed { reason: text("reason")? },
        other => return Err(StatusError(format!("a status record says `{other}`"))),
    };
    Ok(DocumentStatus {
        key: text("timestamp")?,
        version: text("version")?,
        sha256: text("sha256").unwrap_or_default(),
        state,
        recorded_at: text("recorded_at").unwrap_or_default(),
    })
}

#[async_trait]
impl DocumentStatuses for DynamoStatuses {
    async fn record(&self, status: &DocumentStatus) -> Result<(), StatusError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(status)))
            .send()
            .await
            .map_err(|e| failed("writing a document status", e))?;
        Ok(())
    }

    async fn forget(&self, key: &str) -> Result<(), StatusError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("conversation_id", s(STATUS_PARTITION))
            .key("timestamp", s(key))
            .send()
            .await
            .map_err(|e| failed("deleting a document status", e))?;
        Ok(())
    }

    async fn all(&self) -> Result<Vec<DocumentStatus>, StatusError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("conversation_id = :p")
            .expression_attribute_values(":p", s(STATUS_PARTITION))
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("reading the document statuses", e))?;
            for item in page.items() {
                match from_item(item) {
                    Ok(status) => all.push(status),
                    // One unreadable record must not hide every document: it shows as pending.
                    Err(e) => tracing::warn!(error = %e, "skipped a malformed document status"),
                }
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_their_own_partition() {
        for state in
            [IndexState::Indexed { chunks: 7 }, IndexState::Failed { reason: "encrypted PDF".into() }]
        {
            let status = DocumentStatus {
                key: "docs/a.pdf".into(),
                version: "e1".into(),
                sha256: "ab".into(),
                state,
                recorded_at: "2026-12-04T00:00:00Z".into(),
            };
            let item = to_item(&status);
            assert!(is_status_record(&item));
            assert!(
                !item.contains_key("owner") && !item.contains_key("updated"),
                "never in the listing index"
            );
            assert_eq!(from_item(&item).unwrap(), status);
        }
    }
}
