//! The conversations table in memory: messages (and unreadable items, as a foreign writer could
//! leave them) and idempotency records, with the DynamoDB adapter's conditions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::message::{ConversationId, SealedMessage, SortKey};
use crate::ports::{
    Claim, ConversationStore, History, IdempotencyRecord, IdempotencyState, IdempotencyStore, ListingChange,
    ListingEntry, Page, Sealed, SkippedItem, StoreError,
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
    listings: Mutex<HashMap<ConversationId, ListingEntry>>,
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

    /// The items stored: messages and unreadable items, not listing entries.
    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    /// Every item of the conversation, its listing entry included, as a raw table read would
    /// count them.
    pub fn items_of(&self, conversation: &ConversationId) -> usize {
        let messages = lock(&self.items).keys().filter(|(c, _)| c == conversation).count();
        messages + usize::from(lock(&self.listings).contains_key(conversation))
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

    async fn append_listed(&self, message: &SealedMessage, change: &ListingChange) -> Result<(), StoreError> {
        let known = lock(&self.items).contains_key(&(message.conversation_id, message.sort_key.to_string()));
        self.append(message).await?;
        if known {
            // A retried write that had landed: counted already.
            return Ok(());
        }
        let at = time_of(&message.sort_key);
        let mut listings = lock(&self.listings);
        let entry = listings.entry(message.conversation_id).or_insert_with(|| ListingEntry {
            conversation_id: message.conversation_id,
            owner: change.owner.clone(),
            title: None,
            created: at.clone(),
            updated: at.clone(),
            message_count: 0,
        });
        if entry.title.is_none() {
            entry.title = change.title.clone();
        }
        entry.updated = entry.updated.clone().max(at);
        entry.message_count += 1;
        Ok(())
    }

    async fn list(
        &self,
        owner: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ListingEntry>, StoreError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let after = cursor
            .map(|c| {
                c.split_once('|').map(|(u, c)| (u.to_owned(), c.to_owned())).ok_or(StoreError::BadCursor)
            })
            .transpose()?;
        let mut entries: Vec<ListingEntry> =
            lock(&self.listings).values().filter(|e| e.owner == owner).cloned().collect();
        entries.sort_by(|a, b| {
            (&b.updated, b.conversation_id.to_string()).cmp(&(&a.updated, a.conversation_id.to_string()))
        });
        let start = match &after {
            None => 0,
            Some((u, c)) => entries
                .iter()
                .position(|e| (&e.updated, e.conversation_id.to_string()) < (u, c.clone()))
                .unwrap_or(entries.len()),
        };
        let items: Vec<ListingEntry> = entries[start..].iter().take(limit).cloned().collect();
        let more = start + items.len() < entries.len();
        let cursor = match (more, items.last()) {
            (true, Some(last)) => Some(format!("{}|{}", last.updated, last.conversation_id)),
            _ => None,
        };
        Ok(Page { items, cursor })
    }

    async fn listing(&self, conversation: &ConversationId) -> Result<Option<ListingEntry>, StoreError> {
        Ok(lock(&self.listings).get(conversation).cloned())
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(History, Option<String>), StoreError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        if cursor.is_some_and(|c| SortKey::parse(c).is_none()) {
            return Err(StoreError::BadCursor);
        }
        let items = lock(&self.items);
        let mut rest = items
            .iter()
            .filter(|((c, key), _)| c == conversation && cursor.is_none_or(|after| key.as_str() > after))
            .peekable();
        let mut history = History::default();
        let mut last = None;
        for ((_, key), item) in rest.by_ref() {
            match item {
                StoredItem::Message(m) => history.messages.push(m.clone()),
                StoredItem::Unreadable { reason } => {
                    history.skipped.push(SkippedItem { sort_key: Some(key.clone()), reason: reason.clone() })
                }
            }
            last = Some(key.clone());
            if history.messages.len() + history.skipped.len() == limit {
                break;
            }
        }
        let cursor = if rest.peek().is_some() { last } else { None };
        Ok((history, cursor))
    }

    async fn rename(&self, conversation: &ConversationId, title: &Sealed) -> Result<bool, StoreError> {
        Ok(match lock(&self.listings).get_mut(conversation) {
            Some(entry) => {
                entry.title = Some(title.clone());
                true
            }
            None => false,
        })
    }

    async fn delete(&self, conversation: &ConversationId) -> Result<(), StoreError> {
        lock(&self.items).retain(|(c, _), _| c != conversation);
        lock(&self.listings).remove(conversation);
        Ok(())
    }
}

/// The time part of a sort key, as the listing's times are written.
fn time_of(key: &SortKey) -> String {
    key.as_str().split_once('#').map_or(key.as_str(), |(t, _)| t).to_owned()
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
