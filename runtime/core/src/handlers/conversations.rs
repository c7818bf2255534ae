//! The conversations API: list, read, rename and delete, with the chat API's token and errors.
//!
//! - `GET /conversations?limit=&cursor=`: newest first, from the listing index.
//! - `GET /conversations/{id}?limit=&cursor=`: the messages, oldest first, each with its status
//!   and the citations it was given.
//! - `PATCH /conversations/{id}` with `{"title": "..."}`.
//! - `DELETE /conversations/{id}`: every item of it; 204, and 204 again on a repeat.
//!
//! Titles and citations are sealed like the messages; they are opened here, for the caller.

use serde::Deserialize;

use super::ChatApp;
use super::chat::{open, open_title};
use crate::domain::conversations::{ConversationPage, ConversationSummary, ListPage, StoredMessage, cursor};
use crate::domain::error::ApiError;
use crate::domain::markdown;
use crate::domain::message::{ConversationId, Role, TITLE_CHARS, title_aad};
use crate::ports::{DEFAULT_OWNER, ListingEntry, StoreError};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// `limit` and `cursor` from a query string; anything else in it is refused.
struct Paging {
    limit: usize,
    cursor: Option<String>,
}

fn paging(query: Option<&str>) -> Result<Paging, ApiError> {
    let mut paging = Paging { limit: DEFAULT_LIMIT, cursor: None };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "limit" => {
                paging.limit =
                    value.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                        ApiError::bad_request(format!("limit must be a number from 1 to {MAX_LIMIT}"))
                    })?;
            }
            "cursor" => paging.cursor = Some(cursor::decode(value).ok_or_else(bad_cursor)?),
            _ => return Err(ApiError::bad_request("unknown query parameter: use limit and cursor")),
        }
    }
    Ok(paging)
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("the cursor is not one this API handed out: start again without it")
}

fn store_failed(request_id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::BadCursor => bad_cursor(),
        other => {
            tracing::error!(request_id, error = %other, "the conversations store failed");
            ApiError::internal()
        }
    }
}

pub fn parse_id(raw: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            "the conversation id must be a UUID such as 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11",
        )
    })
}

/// The title a caller sees: opened, or none when it cannot be (logged, never fatal to a list).
async fn title(app: &ChatApp, entry: &ListingEntry, request_id: &str) -> Option<String> {
    let sealed = entry.title.as_ref()?;
    match open_title(app.cipher.as_ref(), &entry.conversation_id, sealed).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(request_id, conversation_id = %entry.conversation_id, error = %e, "a title did not open");
            None
        }
    }
}

async fn summary(app: &ChatApp, entry: ListingEntry, request_id: &str) -> ConversationSummary {
    ConversationSummary {
        title: title(app, &entry, request_id).await,
        conversation_id: entry.conversation_id.to_string(),
        created: entry.created,
        updated: entry.updated,
        message_count: entry.message_count,
    }
}

pub async fn list(app: &ChatApp, query: Option<&str>, request_id: &str) -> Result<ListPage, ApiError> {
    let paging = paging(query)?;
    let page = app
        .store
        .list(DEFAULT_OWNER, paging.limit, paging.cursor.as_deref())
        .await
        .map_err(|e| store_failed(request_id, e))?;
    let mut conversations = Vec::with_capacity(page.items.len());
    for entry in page.items {
        conversations.push(summary(app, entry, request_id).await);
    }
    Ok(ListPage { conversations, cursor: page.cursor.as_deref().map(cursor::encode) })
}

pub async fn show(
    app: &ChatApp,
    id: ConversationId,
    query: Option<&str>,
    request_id: &str,
) -> Result<ConversationPage, ApiError> {
    let paging = paging(query)?;
    let entry = app.store.listing(&id).await.map_err(|e| store_failed(request_id, e))?;
    let (history, next) = app
        .store
        .messages(&id, paging.limit, paging.cursor.as_deref())
        .await
        .map_err(|e| store_failed(request_id, e))?;
    if entry.is_none() && history.messages.is_empty() && history.skipped.is_empty() {
        return Err(ApiError::no_such_conversation());
    }
    let mut messages = Vec::with_capacity(history.messages.len());
    for item in &history.skipped {
        tracing::warn!(request_id, conversation_id = %id, sort_key = item.sort_key.as_deref().unwrap_or("?"), error = %item.reason, "skipped a malformed item");
    }
    for sealed in history.messages {
        let sort_key = sealed.sort_key.clone();
        match open(app, sealed).await {
            Ok(m) => messages.push(StoredMessage {
                message_id: m.message_id.to_string(),
                role: m.role.as_str().to_owned(),
                time: m.sort_key.as_str().split_once('#').map_or("", |(t, _)| t).to_owned(),
                html: (m.role == Role::Assistant).then(|| markdown::to_html(&m.content)),
                content: m.content,
                model: m.model,
                status: m.status.map(|s| s.as_str().to_owned()),
                citations: m.citations,
            }),
            Err(e) => {
                tracing::warn!(request_id, conversation_id = %id, sort_key = %sort_key, error = %e, "skipped an item that did not open");
            }
        }
    }
    let title = match &entry {
        Some(e) => title(app, e, request_id).await,
        None => None,
    };
    Ok(ConversationPage {
        conversation_id: id.to_string(),
        title,
        messages,
        cursor: next.as_deref().map(cursor::encode),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    title: String,
}

pub async fn rename(
    app: &ChatApp,
    id: ConversationId,
    body: &[u8],
    request_id: &str,
) -> Result<ConversationSummary, ApiError> {
    if body.len() > 4 * 1024 {
        return Err(ApiError::payload_too_large("a rename body is a title of at most 60 characters"));
    }
    let rename: Rename = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request(r#"send JSON like {"title": "Trip to Porto"}"#))?;
    let title = rename.title.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err(ApiError::bad_request("title must not be empty"));
    }
    let chars = title.chars().count();
    if chars > TITLE_CHARS {
        return Err(ApiError::bad_request(format!(
            "title is {chars} characters; the limit is {TITLE_CHARS}"
        )));
    }
    let sealed = app.cipher.seal(title.as_bytes(), &title_aad(&id)).await.map_err(|e| {
        tracing::error!(request_id, error = %e, "could not seal a title");
        ApiError::internal()
    })?;
    if !app.store.rename(&id, &sealed).await.map_err(|e| store_failed(request_id, e))? {
        return Err(ApiError::no_such_conversation());
    }
    let entry = app.store.listing(&id).await.map_err(|e| store_failed(request_id, e))?;
    let entry = entry.ok_or_else(ApiError::no_such_conversation)?;
    Ok(summary(app, entry, request_id).await)
}

pub async fn delete(app: &ChatApp, id: ConversationId, request_id: &str) -> Result<(), ApiError> {
    app.store.delete(&id).await.map_err(|e| store_failed(request_id, e))?;
    tracing::info!(request_id, conversation_id = %id, "conversation deleted");
    Ok(())
}
