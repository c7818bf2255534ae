//! The conversations table in memory: messages (and unreadable items, as a foreign writer could
//! leave them) and idempotency records, with the DynamoDB adapter's conditions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::message::{ConversationId, SealedMessage, SortKey};
use crate::ports::{
    Claim, ConversationStore, History, IdempotencyRecord, IdempotencyState, IdempotencyStore, Sealed,
    SkippedItem, StoreError,
};

/// One item of the in-memory table: a message, or an item no message can be read from.
#[derive(Clone)]
enum StoredItem {
    Message(SealedMessage),
    Unreadable { reason: String },
}

/// A conversation table in a `BTreeMap`, ordered like the DynamoDB table.
#[derive(Default)]
pub struct InMemoryConversationStore {
    items: Mutex<BTreeMap<(ConversationId, String), StoredItem>>,
    queries: AtomicUsize,
    fail_appends: AtomicBool,
}

impl InMemoryConversationStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored message of a conversation, oldest first, as stored (sealed).
    pub fn stored(&self, conversation: &ConversationId) -> Vec<SealedMessage> {
        lock(&self.items)
            .iter()
            .filter(|((c, _), _)| c == conversation)
            .filter_map(|(_, item)| match item {
                StoredItem::Message(m) => Some(m.clone()),
                StoredItem::Unreadable { .. } => None,
            })
            .collect()
    }

    /// Puts an item that is not a readable message (as a foreign writer could) under `sort_key`.
    pub fn insert_unreadable(&self, conversation: ConversationId, sort_key: &str, reason: &str) {
        let item = StoredItem::Unreadable { reason: reason.to_owned() };
        lock(&self.items).insert((conversation, sort_key.to_owned()), item);
    }

    /// Changes a stored message in place, as a writer with table access could; `false` if
    /// there is no message under that key.
    pub fn edit(
        &self,
        conversation: ConversationId,
        sort_key: &SortKey,
        edit: impl FnOnce(&mut SealedMessage),
    ) -> bool {
        match lock(&self.items).get_mut(&(conversation, sort_key.to_string())) {
            Some(StoredItem::Message(m)) => {
                edit(m);
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    pub fn fail_appends(&self, fail: bool) {
        self.fail_appends.store(fail, Ordering::SeqCst);
    }
}

#[async_trait]
impl ConversationStore for InMemoryConversationStore {
    async fn recent(&self, conversation: &ConversationId, limit: usize) -> Result<History, StoreError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let items = lock(&self.items);
        let mut newest: Vec<_> =
            items.iter().rev().filter(|((c, _), _)| c == conversation).take(limit).collect();
        newest.reverse();
        let mut history = History::default();
        for ((_, sort_key), item) in newest {
            match item {
                StoredItem::Message(m) => history.messages.push(m.clone()),
                StoredItem::Unreadable { reason } => history
                    .skipped
                    .push(SkippedItem { sort_key: Some(sort_key.clone()), reason: reason.clone() }),
            }
        }
        Ok(history)
    }

    async fn append(&self, message: &SealedMessage) -> Result<(), StoreError> {
        if self.fail_appends.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("in-memory store set to fail".into()));
        }
        let key = (message.conversation_id, message.sort_key.to_string());
        let mut items = lock(&self.items);
        match items.get(&key) {
            None => {
                items.insert(key, StoredItem::Message(message.clone()));
                Ok(())
            }
            // As in DynamoDB: the same message again is a retried write that had landed.
            Some(StoredItem::Message(m)) if m.message_id == message.message_id => Ok(()),
            Some(_) => Err(StoreError::Conflict("an item with this key exists".into())),
        }
    }
}

/// Idempotency records in a map, with the conditions of the DynamoDB adapter.
#[derive(Default)]
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, IdempotencyRecord>>,
}

impl InMemoryIdempotencyStore {
    pub fn record(&self, key: &str) -> Option<IdempotencyRecord> {
        lock(&self.records).get(key).cloned()
    }

    pub fn len(&self) -> usize {
        lock(&self.records).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn held<T>(
        &self,
        key: &str,
        attempt: &str,
        change: impl FnOnce(&mut IdempotencyRecord) -> T,
    ) -> Result<T, StoreError> {
        match lock(&self.records).get_mut(key) {
            Some(r) if r.attempt == attempt => Ok(change(r)),
            _ => Err(StoreError::Conflict("the idempotency record is held by another request".into())),
        }
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        request_sha256: &str,
        attempt: &str,
        now: i64,
    ) -> Result<Claim, StoreError> {
        let mut records = lock(&self.records);
        if let Some(existing) = records.get(key) {
            return Ok(Claim::Existing(existing.clone()));
        }
        let record = IdempotencyRecord {
            request_sha256: request_sha256.to_owned(),
            attempt: attempt.to_owned(),
            state: IdempotencyState::Pending,
            started_at: now,
            user_message: None,
        };
        records.insert(key.to_owned(), record);
        Ok(Claim::Claimed)
    }

    async fn take_over(
        &self,
        key: &str,
        previous: &str,
        attempt: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        match lock(&self.records).get_mut(key) {
            Some(r) if r.attempt == previous && !matches!(r.state, IdempotencyState::Complete(_)) => {
                r.attempt = attempt.to_owned();
                r.started_at = now;
                r.state = IdempotencyState::Pending;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn user_message_stored(
        &self,
        key: &str,
        attempt: &str,
        conversation: &ConversationId,
        sort_key: &SortKey,
    ) -> Result<(), StoreError> {
        self.held(key, attempt, |r| r.user_message = Some((*conversation, sort_key.clone())))
    }

    async fn release(&self, key: &str, attempt: &str) -> Result<(), StoreError> {
        self.held(key, attempt, |r| {
            if r.state == IdempotencyState::Pending {
                r.state = IdempotencyState::Released;
            }
        })
    }

    async fn complete(&self, key: &str, attempt: &str, response: &Sealed) -> Result<(), StoreError> {
        self.held(key, attempt, |r| r.state = IdempotencyState::Complete(response.clone()))
    }
}
