//! The listing: one item per conversation, in the conversation's own partition under
//! [`LISTING_SORT_KEY`], indexed by owner and newest message time ([`LISTING_INDEX`]).
//!
//! Each message is written with its entry's update in one `TransactWriteItems`, so the count and
//! time can never drift from the messages. The index's partition key is the owner: a second
//! owner is a second partition of the index, and no message item has to move.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use uuid::Uuid;

use super::{DynamoConversationStore, LISTING_INDEX, LISTING_SORT_KEY, store_error, to_item};
use crate::domain::message::{ConversationId, SealedMessage};
use crate::ports::{ListingChange, ListingEntry, Page, Sealed, StoreError};

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The key of a conversation's entry.
pub(super) fn listing_key(conversation: &ConversationId) -> Item {
    HashMap::from([
        ("conversation_id".to_owned(), s(conversation.to_string())),
        ("timestamp".to_owned(), s(LISTING_SORT_KEY)),
    ])
}

fn time_of(message: &SealedMessage) -> String {
    let key = message.sort_key.as_str();
    key.split_once('#').map_or(key, |(t, _)| t).to_owned()
}

pub(super) async fn append_listed(
    store: &DynamoConversationStore,
    message: &SealedMessage,
    change: &ListingChange,
) -> Result<(), StoreError> {
    let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
    let ttl = store.expiry();
    let put = Put::builder()
        .table_name(&store.table)
        .set_item(Some(to_item(message, ttl)))
        .condition_expression("attribute_not_exists(#ts)")
        .expression_attribute_names("#ts", "timestamp")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(built)?;
    let mut set = vec![
        "#owner = if_not_exists(#owner, :owner)",
        "created = if_not_exists(created, :at)",
        "updated = :at",
        "#ttl = :ttl",
    ];
    let mut update = Update::builder()
        .table_name(&store.table)
        .set_key(Some(listing_key(&message.conversation_id)))
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":owner", s(&change.owner))
        .expression_attribute_values(":at", s(time_of(message)))
        .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    if let Some(title) = &change.title {
        set.push("title = if_not_exists(title, :title)");
        set.push("title_key = if_not_exists(title_key, :title_key)");
        update = update
            .expression_attribute_values(":title", AttributeValue::B(Blob::new(title.blob.clone())))
            .expression_attribute_values(
                ":title_key",
                AttributeValue::B(Blob::new(title.wrapped_key.clone())),
            );
    }
    let update = update
        .update_expression(format!("SET {} ADD message_count :one", set.join(", ")))
        .build()
        .map_err(built)?;
    let sent = store
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(update).build())
        .send()
        .await;
    let err = match sent {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error()
    else {
        return Err(store_error(err));
    };
    let reasons = cancelled.cancellation_reasons();
    let put_failed = reasons.first().and_then(|r| r.code()) == Some("ConditionalCheckFailed");
    if !put_failed {
        // Throttled, or a conflict with a concurrent write of this conversation: worth retrying.
        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
        return Err(StoreError::Unavailable(format!("the write was cancelled: {}", codes.join(", "))));
    }
    // The SDK retries a write whose response was lost; the item it finds is its own first
    // attempt, which updated the entry too.
    let existing = match reasons.first().and_then(|r| r.item()) {
        Some(item) => Some(item.clone()),
        None => stored_at(store, message).await?,
    };
    let stored_id = existing.as_ref().and_then(|i| i.get("message_id")).and_then(|v| v.as_s().ok());
    if stored_id.is_some_and(|id| Uuid::try_parse(id).ok() == Some(message.message_id)) {
        return Ok(());
    }
    Err(StoreError::Conflict(format!("another item is stored at {}", message.sort_key)))
}

async fn stored_at(
    store: &DynamoConversationStore,
    message: &SealedMessage,
) -> Result<Option<Item>, StoreError> {
    let out = store
        .client
        .get_item()
        .table_name(&store.table)
        .key("conversation_id", s(message.conversation_id.to_string()))
        .key("timestamp", s(message.sort_key.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    Ok(out.item)
}

pub(super) async fn list(
    store: &DynamoConversationStore,
    owner: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<ListingEntry>, StoreError> {
    let start = cursor.map(|c| start_key(owner, c)).transpose()?;
    let out = store
        .client
        .query()
        .table_name(&store.table)
        .index_name(LISTING_INDEX)
        .key_condition_expression("#owner = :owner")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":owner", s(owner))
        .scan_index_forward(false)
        .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(store_error)?;
    let mut items = Vec::with_capacity(out.items().len());
    for item in out.items() {
        match entry(item) {
            Ok(e) => items.push(e),
            // One bad entry must not hide every other conversation; it is named in the log.
            Err(e) => tracing::warn!(error = %e, "skipped a malformed listing entry"),
        }
    }
    let cursor = out.last_evaluated_key().and_then(|k| {
        let updated = k.get("updated")?.as_s().ok()?;
        let conversation = k.get("conversation_id")?.as_s().ok()?;
        Some(format!("{updated}|{conversation}"))
    });
    Ok(Page { items, cursor })
}

/// The index position a cursor names: `updated|conversation_id`, both checked.
fn start_key(owner: &str, cursor: &str) -> Result<Item, StoreError> {
    let (updated, conversation) = cursor.split_once('|').ok_or(StoreError::BadCursor)?;
    let conversation = ConversationId::parse(conversation).ok_or(StoreError::BadCursor)?;
    let probe = format!("{updated}#{}", Uuid::nil());
    crate::domain::message::SortKey::parse(&probe).ok_or(StoreError::BadCursor)?;
    let mut key = listing_key(&conversation);
    key.insert("owner".to_owned(), s(owner));
    key.insert("updated".to_owned(), s(updated));
    Ok(key)
}

pub(super) async fn get(
    store: &DynamoConversationStore,
    conversation: &ConversationId,
) -> Result<Option<ListingEntry>, StoreError> {
    let out = store
        .client
        .get_item()
        .table_name(&store.table)
        .set_key(Some(listing_key(conversation)))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    out.item.as_ref().map(entry).transpose()
}

pub(super) async fn rename(
    store: &DynamoConversationStore,
    conversation: &ConversationId,
    title: &Sealed,
) -> Result<bool, StoreError> {
    let sent = store
        .client
        .update_item()
        .table_name(&store.table)
        .set_key(Some(listing_key(conversation)))
        .update_expression("SET title = :title, title_key = :title_key")
        .condition_expression("attribute_exists(conversation_id)")
        .expression_attribute_values(":title", AttributeValue::B(Blob::new(title.blob.clone())))
        .expression_attribute_values(":title_key", AttributeValue::B(Blob::new(title.wrapped_key.clone())))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
            Ok(false)
        }
        Err(e) => Err(store_error(e)),
    }
}

/// Reads an entry, naming a malformed attribute, never a value.
pub fn entry(item: &Item) -> Result<ListingEntry, StoreError> {
    let text = |name: &str| {
        item.get(name).and_then(|v| v.as_s().ok()).cloned().ok_or_else(|| {
            StoreError::Corrupt(format!("listing attribute `{name}` is missing or not a string"))
        })
    };
    let blob = |name: &str| item.get(name).and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec());
    let conversation_id = ConversationId::parse(&text("conversation_id")?)
        .ok_or_else(|| StoreError::Corrupt("listing attribute `conversation_id` is malformed".into()))?;
    let message_count = item
        .get("message_count")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("listing attribute `message_count` is malformed".into()))?;
    let title = match (blob("title"), blob("title_key")) {
        (Some(blob), Some(wrapped_key)) => Some(Sealed { blob, wrapped_key }),
        _ => None,
    };
    Ok(ListingEntry {
        conversation_id,
        owner: text("owner")?,
        title,
        created: text("created")?,
        updated: text("updated")?,
        message_count,
    })
}
