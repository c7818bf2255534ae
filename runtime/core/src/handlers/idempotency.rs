//! `Idempotency-Key` on `POST /chat`: a request repeated with the same key (a client retrying
//! after a timeout) gets the reply of the first, and the model is called once.
//!
//! The first request claims a record for the key (see [`IdempotencyStore`]); the record notes the
//! user message once it is stored, and the sealed reply once there is one. A repeat then finds:
//! - the reply: it is returned as it was, same message id and citations;
//! - a request still running: 409 `conflict` with `Retry-After`;
//! - a request that failed, or one that has held the record past [`ChatSettings`]'s lease (its
//!   Lambda timed out): the repeat takes the record over and answers the stored user message,
//!   which is not stored twice;
//! - another body under the same key: 422 `idempotency_key_reused`, because answering it would
//!   return a reply to a different question.
//!
//! [`ChatSettings`]: super::ChatSettings

use time::OffsetDateTime;
use uuid::Uuid;

use super::ChatApp;
use crate::digest::sha256_hex;
use crate::domain::api::{ChatRequest, ChatResponse};
use crate::domain::error::ApiError;
use crate::domain::message::{ConversationId, Message, SortKey, push_field};
use crate::ports::{Claim, IdempotencyState};

pub const MAX_KEY_LEN: usize = 255;

/// Checks the header and returns the key's SHA-256, which is all that is stored of it.
pub fn key_hash(header: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = header else { return Ok(None) };
    let visible = raw.bytes().all(|b| b.is_ascii_graphic());
    if raw.is_empty() || raw.len() > MAX_KEY_LEN || !visible {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters without spaces, such as a UUID",
        ));
    }
    Ok(Some(sha256_hex(raw.as_bytes())))
}

/// What identifies a request for its key: the conversation and the message, as parsed, so a
/// retry that serialises the same request differently is still the same request.
pub fn request_sha256(request: &ChatRequest) -> String {
    let mut bytes = b"chatbot/chat-request/v1".to_vec();
    match request.conversation_id {
        None => bytes.push(0),
        Some(c) => {
            bytes.push(1);
            push_field(&mut bytes, c.to_string().as_bytes());
        }
    }
    push_field(&mut bytes, request.message.as_bytes());
    sha256_hex(&bytes)
}

/// Binds a stored reply to its record: it cannot be replayed for another key or request.
pub fn response_aad(key: &str, request_sha256: &str) -> Vec<u8> {
    let mut out = b"chatbot/idempotency/v1".to_vec();
    push_field(&mut out, key.as_bytes());
    push_field(&mut out, request_sha256.as_bytes());
    out
}

pub enum Begin {
    /// Answer the request, holding the record.
    Run(Held),
    /// Answered before: the same reply again.
    Replay(ChatResponse),
}

/// The record this request holds.
pub struct Held {
    key: String,
    request_sha256: String,
    attempt: String,
    /// The user message an earlier attempt stored: answer it rather than store it again.
    pub user_message: Option<(ConversationId, SortKey)>,
}

fn internal(request_id: &str, what: &str, error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(request_id, error = %error, "{what}");
    ApiError::internal()
}

pub async fn begin(
    app: &ChatApp,
    key: String,
    request: &ChatRequest,
    request_id: &str,
) -> Result<Begin, ApiError> {
    let request_sha256 = request_sha256(request);
    let attempt = Uuid::new_v4().to_string();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let claim = app
        .idempotency
        .claim(&key, &request_sha256, &attempt, now)
        .await
        .map_err(|e| internal(request_id, "could not claim the idempotency record", &e))?;
    let record = match claim {
        Claim::Claimed => return Ok(Begin::Run(Held { key, request_sha256, attempt, user_message: None })),
        Claim::Existing(record) => record,
    };
    if record.request_sha256 != request_sha256 {
        return Err(ApiError::idempotency_key_reused());
    }
    match &record.state {
        IdempotencyState::Complete(sealed) => {
            let plain = app
                .cipher
                .open(sealed, &response_aad(&key, &request_sha256))
                .await
                .map_err(|e| internal(request_id, "could not open the stored reply", &e))?;
            let response: ChatResponse = serde_json::from_slice(&plain)
                .map_err(|e| internal(request_id, "the stored reply is not a chat response", &e))?;
            tracing::info!(request_id, conversation_id = %response.conversation_id, "idempotent replay");
            return Ok(Begin::Replay(response));
        }
        IdempotencyState::Pending => {
            let lease = i64::try_from(app.settings.idempotency_lease.as_secs()).unwrap_or(i64::MAX);
            let left = record.started_at.saturating_add(lease).saturating_sub(now);
            if left > 0 {
                return Err(ApiError::conflict(u32::try_from(left.clamp(1, 5)).unwrap_or(5)));
            }
            tracing::warn!(request_id, "taking over an idempotency record held past its lease");
        }
        IdempotencyState::Released => {}
    }
    let taken = app
        .idempotency
        .take_over(&key, &record.attempt, &attempt, now)
        .await
        .map_err(|e| internal(request_id, "could not take over the idempotency record", &e))?;
    if !taken {
        // Another repeat took it first and is answering now.
        return Err(ApiError::conflict(1));
    }
    Ok(Begin::Run(Held { key, request_sha256, attempt, user_message: record.user_message }))
}

// A failed record write never fails the turn: the reply is the caller's either way. The worst
// outcome is a repeat answered anew once the lease runs out.
impl Held {
    pub async fn user_message_stored(&self, app: &ChatApp, user: &Message, request_id: &str) {
        let noted = app.idempotency.user_message_stored(
            &self.key,
            &self.attempt,
            &user.conversation_id,
            &user.sort_key,
        );
        if let Err(e) = noted.await {
            tracing::warn!(request_id, error = %e, "could not note the stored user message in the idempotency record");
        }
    }

    pub async fn release(&self, app: &ChatApp, request_id: &str) {
        if let Err(e) = app.idempotency.release(&self.key, &self.attempt).await {
            tracing::warn!(request_id, error = %e, "could not release the idempotency record");
        }
    }

    pub async fn complete(&self, app: &ChatApp, response: &ChatResponse, request_id: &str) {
        let sealed = match serde_json::to_vec(response) {
            Ok(json) => {
                let json = zeroize::Zeroizing::new(json);
                app.cipher.seal(&json, &response_aad(&self.key, &self.request_sha256)).await
            }
            Err(e) => return tracing::error!(request_id, error = %e, "could not serialise the reply"),
        };
        let stored = match sealed {
            Ok(sealed) => app.idempotency.complete(&self.key, &self.attempt, &sealed).await,
            Err(e) => {
                return tracing::error!(request_id, error = %e, "could not seal the reply for its idempotency record");
            }
        };
        if let Err(e) = stored {
            tracing::warn!(request_id, error = %e, "could not store the reply in the idempotency record");
        }
    }
}
