//! The conversations table as a [`ConversationStore`]: one item per message, keyed by
//! conversation and time, expired by a `ttl` so old conversations delete themselves.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::api::Usage;
use crate::domain::message::{ConversationId, ReplyStatus, Role, SealedMessage, SortKey};
use crate::ports::{
    ConversationStore, History, ListingChange, ListingEntry, Page, Sealed, SkippedItem, StoreError,
};

mod listing;
mod pages;

pub use listing::entry as listing_entry;

/// Whether a raw item of the table is a conversation's listing entry.
pub fn is_listing(item: &HashMap<String, AttributeValue>) -> bool {
    item.get("timestamp").and_then(|v| v.as_s().ok()).is_some_and(|k| k == LISTING_SORT_KEY)
}

/// The sort key of a conversation's listing entry: it sorts after every message's time, so the
/// message queries stop below it.
pub const LISTING_SORT_KEY: &str = "~listing";
/// The index of the listing: an owner's conversations by their newest message.
pub const LISTING_INDEX: &str = "by_owner_updated";

const SECONDS_PER_DAY: u64 = 86_400;
/// How long a conversation is kept when the configuration names no retention.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_RETENTION: Duration = retention_days(DEFAULT_RETENTION_DAYS);

/// A retention of `days` whole days, as the table's `ttl` counts it.
pub const fn retention_days(days: u32) -> Duration {
    Duration::from_secs(days as u64 * SECONDS_PER_DAY)
}

pub struct DynamoConversationStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) retention: Duration,
}

impl DynamoConversationStore {
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self { client, table: table.into(), retention }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The `ttl` of an item written now.
    pub(crate) fn expiry(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
            + i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 2)
    }
}

/// Whether a conditional write was refused by its condition, whichever operation made it.
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata>(
    err: &aws_sdk_dynamodb::error::SdkError<E>,
) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

pub(crate) fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: SdkError<E>,
) -> StoreError {
    match err.as_service_error().and_then(|e| e.code()) {
        Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
            StoreError::Throttled
        }
        _ => StoreError::Unavailable(super::describe(&err)),
    }
}

#[async_trait]
impl ConversationStore for DynamoConversationStore {
    async fn recent(&self, conversation: &ConversationId, limit: usize) -> Result<History, StoreError> {
        if limit == 0 {
            return Ok(History::default());
        }
        // Strongly consistent: a follow-up sent right after a reply must see that reply.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("conversation_id = :c AND #ts < :listing")
            .expression_attribute_names("#ts", "timestamp")
            .expression_attribute_values(":c", AttributeValue::S(conversation.to_string()))
            .expression_attribute_values(":listing", AttributeValue::S(LISTING_SORT_KEY.to_owned()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let mut history = History::default();
        // Newest first from the query; the history is oldest first.
        for item in out.items().iter().rev() {
            match from_item(item) {
                Ok(m) => history.messages.push(m),
                Err(e) => {
                    history.skipped.push(SkippedItem { sort_key: sort_key_of(item), reason: reason(e) })
                }
            }
        }
        Ok(history)
    }

    async fn append(&self, message: &SealedMessage) -> Result<(), StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(message, self.expiry())))
            // A sort key is unique by construction; refuse to overwrite rather than lose a message.
            .condition_expression("attribute_not_exists(#ts)")
            .expression_attribute_names("#ts", "timestamp")
            // What is there when the condition fails, without a second call.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(existing) = err.as_service_error().and_then(|e| match e {
            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                Some(c.item.clone().unwrap_or_default())
            }
            _ => None,
        }) else {
            return Err(store_error(err));
        };
        // The SDK retries a write whose response was lost; the item it finds is its own first
        // attempt, and the message is stored.
        let stored_id = existing.get("message_id").and_then(|v| v.as_s().ok());
        if stored_id.is_some_and(|id| Uuid::try_parse(id).ok() == Some(message.message_id)) {
            return Ok(());
        }
        Err(StoreError::Conflict(format!("another item is stored at {}", message.sort_key)))
    }

    async fn append_listed(&self, message: &SealedMessage, change: &ListingChange) -> Result<(), StoreError> {
        listing::append_listed(self, message, change).await
    }

    async fn list(
        &self,
        owner: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ListingEntry>, StoreError> {
        listing::list(self, owner, limit, cursor).await
    }

    async fn listing(&self, conversation: &ConversationId) -> Result<Option<ListingEntry>, StoreError> {
        listing::get(self, conversation).await
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(History, Option<String>), StoreError> {
        pages::messages(self, conversation, limit, cursor).await
    }

    async fn rename(&self, conversation: &ConversationId, title: &Sealed) -> Result<bool, StoreError> {
        listing::rename(self, conversation, title).await
    }

    async fn delete(&self, conversation: &ConversationId) -> Result<(), StoreError> {
        pages::delete(self, conversation).await
    }
}

/// An item's sort key for a log line, if it is a string, capped in length (it is not content,
/// but whoever wrote a malformed item chose it).
pub fn sort_key_of(item: &HashMap<String, AttributeValue>) -> Option<String> {
    item.get("timestamp").and_then(|v| v.as_s().ok()).map(|s| s.chars().take(100).collect())
}

/// What is wrong with an item, from [`from_item`]'s error: an attribute name, never a value.
pub fn reason(err: StoreError) -> String {
    match err {
        StoreError::Corrupt(why) => why,
        other => other.to_string(),
    }
}

pub fn to_item(m: &SealedMessage, ttl_epoch_seconds: i64) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("conversation_id".to_owned(), AttributeValue::S(m.conversation_id.to_string())),
        ("timestamp".to_owned(), AttributeValue::S(m.sort_key.to_string())),
        ("message_id".to_owned(), AttributeValue::S(m.message_id.to_string())),
        ("role".to_owned(), AttributeValue::S(m.role.as_str().to_owned())),
        ("content".to_owned(), AttributeValue::B(Blob::new(m.content.clone()))),
        ("wrapped_key".to_owned(), AttributeValue::B(Blob::new(m.wrapped_key.clone()))),
        ("ttl".to_owned(), AttributeValue::N(ttl_epoch_seconds.to_string())),
    ]);
    if let Some(model) = &m.model {
        item.insert("model".to_owned(), AttributeValue::S(model.clone()));
    }
    if let Some(u) = m.usage {
        item.insert("input_tokens".to_owned(), AttributeValue::N(u.input_tokens.to_string()));
        item.insert("output_tokens".to_owned(), AttributeValue::N(u.output_tokens.to_string()));
    }
    if let Some(status) = m.status {
        item.insert("status".to_owned(), AttributeValue::S(status.as_str().to_owned()));
    }
    if let Some(c) = &m.citations {
        item.insert("citations".to_owned(), AttributeValue::B(Blob::new(c.blob.clone())));
        item.insert("citations_key".to_owned(), AttributeValue::B(Blob::new(c.wrapped_key.clone())));
    }
    item
}

pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<SealedMessage, StoreError> {
    let s = |name: &str| -> Result<&String, StoreError> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` is missing or not a string")))
    };
    let b = |name: &str| -> Result<Vec<u8>, StoreError> {
        item.get(name)
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` is missing or not binary")))
    };
    let n = |name: &str| -> Option<u32> {
        item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("attribute `{what}` is malformed"));

    let usage = match (n("input_tokens"), n("output_tokens")) {
        (Some(input_tokens), Some(output_tokens)) => Some(Usage { input_tokens, output_tokens }),
        _ => None,
    };
    Ok(SealedMessage {
        conversation_id: ConversationId::parse(s("conversation_id")?)
            .ok_or_else(|| corrupt("conversation_id"))?,
        message_id: Uuid::try_parse(s("message_id")?).map_err(|_| corrupt("message_id"))?,
        sort_key: SortKey::parse(s("timestamp")?).ok_or_else(|| corrupt("timestamp"))?,
        role: Role::parse(s("role")?).ok_or_else(|| corrupt("role"))?,
        content: b("content")?,
        wrapped_key: b("wrapped_key")?,
        model: item.get("model").and_then(|v| v.as_s().ok()).cloned(),
        usage,
        status: match item.get("status") {
            None => None,
            Some(v) => {
                Some(v.as_s().ok().and_then(|s| ReplyStatus::parse(s)).ok_or_else(|| corrupt("status"))?)
            }
        },
        citations: match item.get("citations") {
            None => None,
            Some(_) => Some(Sealed { blob: b("citations")?, wrapped_key: b("citations_key")? }),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_round_trip_and_plaintext_free_layout() {
        let conv = ConversationId::new();
        let id = Uuid::new_v4();
        let m = SealedMessage {
            conversation_id: conv,
            message_id: id,
            sort_key: SortKey::new(OffsetDateTime::now_utc(), id),
            role: Role::Assistant,
            content: vec![1, 2, 3],
            wrapped_key: vec![9; 8],
            model: Some("m".into()),
            usage: Some(Usage { input_tokens: 3, output_tokens: 4 }),
            status: Some(ReplyStatus::Stopped),
            citations: None,
        };
        let item = to_item(&m, 42);
        assert_eq!(item["ttl"], AttributeValue::N("42".into()));
        assert!(matches!(item["content"], AttributeValue::B(_)));
        assert_eq!(item["status"], AttributeValue::S("stopped".into()));
        assert_eq!(from_item(&item).unwrap(), m);
    }

    #[test]
    fn malformed_items_say_which_attribute() {
        let mut item = to_item(
            &SealedMessage {
                conversation_id: ConversationId::new(),
                message_id: Uuid::nil(),
                sort_key: SortKey::new(OffsetDateTime::now_utc(), Uuid::nil()),
                role: Role::User,
                content: vec![],
                wrapped_key: vec![],
                model: None,
                usage: None,
                status: None,
                citations: None,
            },
            0,
        );
        item.insert("role".into(), AttributeValue::S("system".into()));
        let err = from_item(&item).unwrap_err().to_string();
        assert!(err.contains("`role`"), "{err}");
        item.remove("content");
        item.insert("role".into(), AttributeValue::S("user".into()));
        assert!(from_item(&item).unwrap_err().to_string().contains("`content`"));
        item.insert("content".into(), AttributeValue::B(Blob::new(vec![])));
        item.insert("status".into(), AttributeValue::S("half-done".into()));
        assert!(from_item(&item).unwrap_err().to_string().contains("`status`"));
    }
}
