//! The conversations API's wire types, shared by the handlers and opsctl.

use serde::{Deserialize, Serialize};

use super::api::Citation;

/// A conversation in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation_id: String,
    /// `None` when the conversation began before titles were kept.
    pub title: Option<String>,
    /// RFC 3339 UTC, microseconds: the times of its first and newest messages.
    pub created: String,
    pub updated: String,
    pub message_count: u32,
}

/// `GET /conversations`: newest first; `cursor` asks for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListPage {
    pub conversations: Vec<ConversationSummary>,
    pub cursor: Option<String>,
}

/// One stored message, opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub message_id: String,
    pub role: String,
    pub content: String,
    pub time: String,
    pub model: Option<String>,
    /// A reply's `complete`, `stopped` or `failed`; `None` on user messages and older replies.
    pub status: Option<String>,
    pub citations: Vec<Citation>,
    /// A reply's content as sanitised HTML, for the web app (see [`super::markdown`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// `GET /conversations/{id}`: its messages, oldest first; `cursor` asks for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPage {
    pub conversation_id: String,
    pub title: Option<String>,
    pub messages: Vec<StoredMessage>,
    pub cursor: Option<String>,
}

/// Page cursors as the API hands them out: the store's cursor in lowercase hex, so it travels in
/// a query string as it is.
pub mod cursor {
    pub fn encode(raw: &str) -> String {
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// `None` for anything [`encode`] cannot have made.
    pub fn decode(hex: &str) -> Option<String> {
        if hex.is_empty() || !hex.len().is_multiple_of(2) || hex.len() > 1024 {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        String::from_utf8(bytes?).ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn cursors_round_trip_and_garbage_is_refused() {
            let raw = "2026-12-03T12:00:00.000001Z|6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11";
            assert_eq!(super::decode(&super::encode(raw)).as_deref(), Some(raw));
            for bad in ["", "abc", "zz", "ff", &"00".repeat(600)] {
                assert_eq!(super::decode(bad), None, "{bad}");
            }
        }
    }
}
