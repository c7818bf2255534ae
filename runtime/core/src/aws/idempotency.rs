//! Idempotency records in the conversations table, as an [`IdempotencyStore`].
//!
//! A record lives in its own partition, `conversation_id = "idempotency#<sha256 of the key>"`,
//! under the fixed sort key `record`, so no conversation's query ever meets one. It expires with
//! the same `ttl` as the messages. Every write is conditional: the claim on the record not
//! existing (or having expired, since TTL deletes late), the rest on the writer's attempt token.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::dynamodb::{DynamoConversationStore, is_condition_failure, store_error};
use crate::domain::message::{ConversationId, SortKey};
use crate::ports::{Claim, IdempotencyRecord, IdempotencyState, IdempotencyStore, Sealed, StoreError};

/// The partition-key prefix of idempotency records; no conversation id (a UUID) starts so.
pub const RECORD_PREFIX: &str = "idempotency#";
const RECORD_SORT_KEY: &str = "record";

type Item = HashMap<String, AttributeValue>;

/// Whether a scanned item is an idempotency record rather than a message.
pub fn is_idempotency_record(item: &Item) -> bool {
    item.get("conversation_id").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with(RECORD_PREFIX))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads a record back; a record this code did not write is reported as corrupt.
pub fn record_from_item(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("idempotency record: `{what}` is missing or malformed"));
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str);
    let bytes = |name: &str| item.get(name).and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec());
    let state = match text("state") {
        Some("pending") => IdempotencyState::Pending,
        Some("released") => IdempotencyState::Released,
        Some("complete") => IdempotencyState::Complete(Sealed {
            blob: bytes("response").ok_or_else(|| corrupt("response"))?,
            wrapped_key: bytes("response_key").ok_or_else(|| corrupt("response_key"))?,
        }),
        _ => return Err(corrupt("state")),
    };
    let user_message = match (text("user_conversation_id"), text("user_timestamp")) {
        (Some(c), Some(t)) => Some((
            ConversationId::parse(c).ok_or_else(|| corrupt("user_conversation_id"))?,
            SortKey::parse(t).ok_or_else(|| corrupt("user_timestamp"))?,
        )),
        _ => None,
    };
    Ok(IdempotencyRecord {
        request_sha256: text("request_sha256").ok_or_else(|| corrupt("request_sha256"))?.to_owned(),
        attempt: text("attempt").ok_or_else(|| corrupt("attempt"))?.to_owned(),
        state,
        started_at: item
            .get("started_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt("started_at"))?,
        user_message,
    })
}

impl DynamoConversationStore {
    fn record_key(key: &str) -> [(String, AttributeValue); 2] {
        [
            ("conversation_id".to_owned(), s(&format!("{RECORD_PREFIX}{key}"))),
            ("timestamp".to_owned(), s(RECORD_SORT_KEY)),
        ]
    }

    /// An update of the record held by `attempt`; a failed condition means another request
    /// took the record over.
    async fn update_held(
        &self,
        key: &str,
        attempt: &str,
        set: &str,
        extra_condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let condition = match extra_condition {
            Some(more) => format!("attempt = :attempt AND {more}"),
            None => "attempt = :attempt".to_owned(),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::record_key(key).into_iter().collect()))
            .update_expression(set)
            .condition_expression(condition)
            .expression_attribute_values(":attempt", s(attempt));
        // `state` and `response` are reserved words in DynamoDB expressions.
        for (placeholder, name) in [("#state", "state"), ("#response", "response")] {
            if set.contains(placeholder) || extra_condition.is_some_and(|c| c.contains(placeholder)) {
                update = update.expression_attribute_names(placeholder, name);
            }
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(StoreError::Conflict("the idempotency record is held by another request".into()))
            }
            Err(e) => Err(store_error(e)),
        }
    }
}

#[async_trait]
impl IdempotencyStore for DynamoConversationStore {
    async fn claim(
        &self,
        key: &str,
        request_sha256: &str,
        attempt: &str,
        now: i64,
    ) -> Result<Claim, StoreError> {
        let mut item: Item = Self::record_key(key).into_iter().collect();
        item.insert("request_sha256".into(), s(request_sha256));
        item.insert("attempt".into(), s(attempt));
        item.insert("state".into(), s("pending"));
        item.insert("started_at".into(), n(now));
        item.insert("ttl".into(), n(self.expiry()));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // TTL deletes up to days late: an expired record is as good as none. Against the
            // clock, not `now`, which only dates the claim.
            .condition_expression("attribute_not_exists(conversation_id) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(OffsetDateTime::now_utc().unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c),
                ) => {
                    let existing = c.item.clone().unwrap_or_default();
                    Ok(Claim::Existing(record_from_item(&existing)?))
                }
                _ => Err(store_error(e)),
            },
        }
    }

    async fn take_over(
        &self,
        key: &str,
        previous: &str,
        attempt: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::record_key(key).into_iter().collect()))
            .update_expression("SET attempt = :attempt, started_at = :now, #state = :pending")
            .condition_expression("attempt = :previous AND #state <> :complete")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":attempt", s(attempt))
            .expression_attribute_values(":previous", s(previous))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":complete", s("complete"))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn user_message_stored(
        &self,
        key: &str,
        attempt: &str,
        conversation: &ConversationId,
        sort_key: &SortKey,
    ) -> Result<(), StoreError> {
        self.update_held(
            key,
            attempt,
            "SET user_conversation_id = :c, user_timestamp = :t",
            None,
            vec![(":c", s(&conversation.to_string())), (":t", s(sort_key.as_str()))],
        )
        .await
    }

    async fn release(&self, key: &str, attempt: &str) -> Result<(), StoreError> {
        self.update_held(
            key,
            attempt,
            "SET #state = :released",
            Some("#state = :pending"),
            vec![(":released", s("released")), (":pending", s("pending"))],
        )
        .await
    }

    async fn complete(&self, key: &str, attempt: &str, response: &Sealed) -> Result<(), StoreError> {
        self.update_held(
            key,
            attempt,
            "SET #state = :complete, #response = :r, response_key = :k",
            None,
            vec![
                (":complete", s("complete")),
                (":r", AttributeValue::B(Blob::new(response.blob.clone()))),
                (":k", AttributeValue::B(Blob::new(response.wrapped_key.clone()))),
            ],
        )
        .await
    }
}
