//! A conversation read a page at a time, and deleted whole.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::listing::listing_key;
use super::{DynamoConversationStore, LISTING_SORT_KEY, from_item, reason, sort_key_of, store_error};
use crate::domain::message::{ConversationId, SortKey};
use crate::ports::{History, SkippedItem, StoreError};

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// Rounds of resending what DynamoDB left unprocessed (it does under throttling) before giving up.
const UNPROCESSED_ROUNDS: u32 = 5;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A Query of the conversation's message items: everything in its partition below the entry.
fn messages_query(
    store: &DynamoConversationStore,
    conversation: &ConversationId,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("conversation_id = :c AND #ts < :listing")
        .expression_attribute_names("#ts", "timestamp")
        .expression_attribute_values(":c", s(conversation.to_string()))
        .expression_attribute_values(":listing", s(LISTING_SORT_KEY))
}

pub(super) async fn messages(
    store: &DynamoConversationStore,
    conversation: &ConversationId,
    limit: usize,
    cursor: Option<&str>,
) -> Result<(History, Option<String>), StoreError> {
    let start = match cursor {
        None => None,
        Some(c) => {
            let key = SortKey::parse(c).ok_or(StoreError::BadCursor)?;
            Some(HashMap::from([
                ("conversation_id".to_owned(), s(conversation.to_string())),
                ("timestamp".to_owned(), s(key.as_str())),
            ]))
        }
    };
    let out = messages_query(store, conversation)
        .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
        .set_exclusive_start_key(start)
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    let mut history = History::default();
    for item in out.items() {
        match from_item(item) {
            Ok(m) => history.messages.push(m),
            Err(e) => history.skipped.push(SkippedItem { sort_key: sort_key_of(item), reason: reason(e) }),
        }
    }
    let cursor = out.last_evaluated_key().and_then(|k| k.get("timestamp")?.as_s().ok().cloned());
    Ok((history, cursor))
}

/// Every message item's key, then the entry's: the entry goes last, so a delete cut short leaves
/// the conversation listed, and deleting it again finishes the job.
pub(super) async fn delete(
    store: &DynamoConversationStore,
    conversation: &ConversationId,
) -> Result<(), StoreError> {
    let mut start = None;
    loop {
        let out = messages_query(store, conversation)
            .projection_expression("conversation_id, #ts")
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(store_error)?;
        for keys in out.items().chunks(BATCH) {
            delete_batch(store, keys.to_vec()).await?;
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    store
        .client
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(listing_key(conversation)))
        .send()
        .await
        .map_err(store_error)?;
    Ok(())
}

async fn delete_batch(
    store: &DynamoConversationStore,
    keys: Vec<HashMap<String, AttributeValue>>,
) -> Result<(), StoreError> {
    let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
    let mut requests = Vec::with_capacity(keys.len());
    for key in keys {
        let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(built)?;
        requests.push(WriteRequest::builder().delete_request(delete).build());
    }
    for round in 0..UNPROCESSED_ROUNDS {
        let out = store
            .client
            .batch_write_item()
            .request_items(&store.table, requests)
            .send()
            .await
            .map_err(store_error)?;
        requests = out.unprocessed_items().and_then(|u| u.get(&store.table)).cloned().unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50 << round)).await;
    }
    Err(StoreError::Throttled)
}
