//! Request and response types of `POST /chat`, `GET /health` and the retrieval Lambda: the
//! wire contract, so opsctl reads the same types the Lambdas write.

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::message::ConversationId;
use super::prompt::RetrievedChunk;

pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// A validated chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub conversation_id: Option<ConversationId>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    #[serde(default)]
    conversation_id: Option<String>,
    message: String,
}

impl ChatRequest {
    /// Parses and validates a request body. Size limits come first, so an oversized body is
    /// never parsed.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::payload_too_large(format!(
                "request body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            )));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(r#"empty body: send JSON like {"message": "hello"}"#));
        }
        // serde reads a struct from a JSON array too, field by position; that form is not the
        // contract and would slip past `deny_unknown_fields`.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::bad_request(r#"the body must be a JSON object like {"message": "hello"}"#));
        }
        let wire: WireRequest = serde_json::from_slice(body).map_err(json_error)?;
        if wire.message.len() > MAX_MESSAGE_BYTES {
            return Err(ApiError::payload_too_large(format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                wire.message.len()
            )));
        }
        if wire.message.trim().is_empty() {
            return Err(ApiError::bad_request("message must not be empty"));
        }
        let conversation_id = match wire.conversation_id {
            None => None,
            Some(raw) => Some(ConversationId::parse(&raw).ok_or_else(|| {
                ApiError::bad_request(
                    "conversation_id must be a UUID such as 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11, or be left out",
                )
            })?),
        };
        Ok(Self { conversation_id, message: wire.message })
    }
}

fn json_error(err: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        // serde's data errors name the offending field or type, which helps the caller and only
        // echoes their own request; cap the length all the same.
        Category::Data => {
            // By characters: the text may quote a multi-byte field name, and cutting inside a
            // character would panic.
            let text: String = err.to_string().chars().take(200).collect();
            ApiError::bad_request(format!("invalid request: {text}"))
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("malformed JSON at line {} column {}", err.line(), err.column()))
        }
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn a_long_multibyte_unknown_field_is_a_400_not_a_panic() {
        let field = "é".repeat(150);
        let body = format!(r#"{{"message":"hi","{field}":1}}"#);
        let err = ChatRequest::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.status, 400);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub source: String,
    pub chunk: u32,
    pub score: f32,
    /// The passage itself (up to [`PASSAGE_CHARS`]), which the web app shows when a citation
    /// is clicked; empty on citations stored before it was kept.
    #[serde(default)]
    pub passage: String,
}

/// How much of a cited passage a citation keeps: enough to read, without making every stored
/// reply carry whole chunks.
pub const PASSAGE_CHARS: usize = 1200;

impl Citation {
    /// A citation of a passage, its text cut at [`PASSAGE_CHARS`].
    pub fn of(source: &str, chunk: u32, score: f32, text: &str) -> Self {
        let passage = match text.char_indices().nth(PASSAGE_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        };
        Self { source: source.to_owned(), chunk, score, passage }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub conversation_id: String,
    pub message_id: String,
    pub reply: String,
    pub model: String,
    pub citations: Vec<Citation>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    pub status: String,
    pub version: String,
    pub rag_enabled: bool,
    /// The embedder retrieval runs, where the chat handler knows it (the local target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedder: Option<String>,
}

/// Passages retrieved for a question when the caller names no number.
pub const DEFAULT_K: usize = 5;

/// What the retrieval Lambda takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    pub query: String,
    #[serde(default = "default_k")]
    pub k: usize,
}

fn default_k() -> usize {
    DEFAULT_K
}

/// What it answers: the hits above the score floor, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieveResponse {
    pub chunks: Vec<RetrievedChunk>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::ErrorCode;

    fn code(body: &[u8]) -> (ErrorCode, u16) {
        let err = ChatRequest::parse(body).unwrap_err();
        (err.code, err.status)
    }

    #[test]
    fn accepts_a_message_with_and_without_conversation() {
        let r = ChatRequest::parse(br#"{"message":"hi"}"#).unwrap();
        assert_eq!(r.message, "hi");
        assert_eq!(r.conversation_id, None);
        let r = ChatRequest::parse(
            br#"{"conversation_id":"6F1C7A3E-0F5E-4A53-9D2C-0E4D1B7E9A11","message":"hi"}"#,
        )
        .unwrap();
        assert_eq!(r.conversation_id.unwrap().to_string(), "6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11");
        let r = ChatRequest::parse(br#"{"conversation_id":null,"message":"hi"}"#).unwrap();
        assert_eq!(r.conversation_id, None);
    }

    #[test]
    fn rejects_bad_input_with_400() {
        for body in [
            &b"{"[..],
            b"not json",
            b"",
            b"   ",
            b"[]",
            b"{}",
            br#"{"message": 5}"#,
            br#"{"message": ""}"#,
            br#"{"message": "  \n\t "}"#,
            br#"{"message": "hi", "role": "system"}"#,
            br#"{"message": "hi", "conversation_id": "not-a-uuid"}"#,
            br#"{"message": "hi", "conversation_id": 7}"#,
        ] {
            assert_eq!(code(body), (ErrorCode::BadRequest, 400), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn unknown_field_error_names_the_field() {
        let err = ChatRequest::parse(br#"{"message": "hi", "temperature": 2}"#).unwrap_err();
        assert!(err.message.contains("temperature"), "{}", err.message);
    }

    #[test]
    fn enforces_message_and_body_limits_with_413() {
        let ok = format!(r#"{{"message":"{}"}}"#, "a".repeat(MAX_MESSAGE_BYTES));
        assert!(ChatRequest::parse(ok.as_bytes()).is_ok());
        let long = format!(r#"{{"message":"{}"}}"#, "a".repeat(MAX_MESSAGE_BYTES + 1));
        assert_eq!(code(long.as_bytes()), (ErrorCode::PayloadTooLarge, 413));
        let body = format!(r#"{{"message":"hi","pad":"{}"}}"#, " ".repeat(MAX_BODY_BYTES));
        assert_eq!(code(body.as_bytes()), (ErrorCode::PayloadTooLarge, 413));
    }

    #[test]
    fn message_limit_counts_bytes_not_chars() {
        let msg = "é".repeat(MAX_MESSAGE_BYTES / 2 + 1);
        let body = format!(r#"{{"message":"{msg}"}}"#);
        assert_eq!(code(body.as_bytes()), (ErrorCode::PayloadTooLarge, 413));
    }
}
