//! Messages of a conversation, in plaintext and in their sealed (stored) form.

use std::fmt;

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::api::{Citation, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// How a reply ended. Stored with every reply written since streaming; older replies have none
/// and were complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyStatus {
    Complete,
    /// The caller disconnected or cancelled: generation stopped, the partial text is kept.
    Stopped,
    /// The model failed mid-reply: the partial text is kept.
    Failed,
}

impl ReplyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Complete => "complete",
            ReplyStatus::Stopped => "stopped",
            ReplyStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ReplyStatus> {
        match s {
            "complete" => Some(ReplyStatus::Complete),
            "stopped" => Some(ReplyStatus::Stopped),
            "failed" => Some(ReplyStatus::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationId(Uuid);

impl ConversationId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Option<Self> {
        Uuid::try_parse(s).ok().map(Self)
    }
}

impl Default for ConversationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

const SORT_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The table's range key: RFC 3339 UTC with microseconds, `#`, then the message id.
///
/// Fixed-width time first makes the keys sort by time; the message id keeps two messages written
/// in the same microsecond apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SortKey(String);

impl SortKey {
    pub fn new(at: OffsetDateTime, message_id: Uuid) -> Self {
        let utc = at.to_offset(time::UtcOffset::UTC);
        // The format only has numeric fields of a valid date, so formatting cannot fail; the
        // fallback keeps the key unique all the same.
        let stamp = utc.format(SORT_TIME).unwrap_or_else(|_| utc.unix_timestamp_nanos().to_string());
        Self(format!("{stamp}#{}", message_id.hyphenated()))
    }

    /// Accepts a key read back from storage, checking its shape.
    pub fn parse(s: &str) -> Option<Self> {
        let (stamp, id) = s.split_once('#')?;
        time::PrimitiveDateTime::parse(
            stamp.strip_suffix('Z')?,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"),
        )
        .ok()?;
        Uuid::try_parse(id).ok()?;
        Some(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message id the key ends with.
    pub fn message_id(&self) -> Option<Uuid> {
        Uuid::try_parse(self.0.split_once('#')?.1).ok()
    }

    /// The instant in the key, to microsecond precision.
    pub fn time(&self) -> Option<OffsetDateTime> {
        let stamp = self.0.split_once('#')?.0.strip_suffix('Z')?;
        let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");
        time::PrimitiveDateTime::parse(stamp, fmt).ok().map(|t| t.assume_utc())
    }

    /// A time for the next message that sorts strictly after this one, even if the clock has
    /// not moved (or moved back) since.
    pub fn next_time(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self.time() {
            // No instant follows the last one the type holds (year 9999); the message id in the
            // key still keeps the next key unique, so reuse the time rather than overflow.
            Some(t) if now <= t => t.checked_add(Duration::microseconds(1)).unwrap_or(t),
            _ => now,
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message as the handlers see it: plaintext, never stored as such.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub conversation_id: ConversationId,
    pub message_id: Uuid,
    pub sort_key: SortKey,
    pub role: Role,
    pub content: String,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    /// A reply's ending; `None` on user messages and on replies stored before it was recorded.
    pub status: Option<ReplyStatus>,
    /// The passages a reply was given to cite, stored sealed with it.
    pub citations: Vec<Citation>,
}

impl Message {
    pub fn new(conversation_id: ConversationId, role: Role, content: String, at: OffsetDateTime) -> Self {
        let message_id = Uuid::new_v4();
        Self {
            conversation_id,
            message_id,
            sort_key: SortKey::new(at, message_id),
            role,
            content,
            model: None,
            usage: None,
            status: None,
            citations: Vec::new(),
        }
    }

    /// Additional authenticated data binding a content blob to this exact item, for sealing.
    pub fn aad(&self) -> Vec<u8> {
        aad_v2(&AadFields {
            conversation_id: &self.conversation_id,
            sort_key: &self.sort_key,
            message_id: &self.message_id,
            role: self.role,
            model: self.model.as_deref(),
            usage: self.usage,
            status: self.status,
        })
    }
}

/// The attributes of a stored item that its content blob is bound to.
pub struct AadFields<'a> {
    pub conversation_id: &'a ConversationId,
    pub sort_key: &'a SortKey,
    pub message_id: &'a Uuid,
    pub role: Role,
    pub model: Option<&'a str>,
    pub usage: Option<Usage>,
    pub status: Option<ReplyStatus>,
}

/// The AAD of blobs with version byte 1, written before v2: `v1|conversation_id|timestamp|role`.
/// It leaves the message id, model and token counts unbound; such blobs stay readable.
pub fn aad_v1(conversation_id: &ConversationId, sort_key: &SortKey, role: Role) -> Vec<u8> {
    format!("v1|{conversation_id}|{sort_key}|{role}").into_bytes()
}

/// The AAD of blobs with version byte 2: every attribute a writer could change unnoticed.
///
/// Each string is length-prefixed and each optional field carries a presence byte, so no two
/// different items encode alike (a `|` in a model id, or `None` against `Some("")`). The reply
/// status joined later, as an optional suffix.
pub fn aad_v2(f: &AadFields<'_>) -> Vec<u8> {
    let mut out = b"chatbot/message/v2".to_vec();
    push_field(&mut out, f.conversation_id.to_string().as_bytes());
    push_field(&mut out, f.sort_key.as_str().as_bytes());
    push_field(&mut out, f.message_id.hyphenated().to_string().as_bytes());
    push_field(&mut out, f.role.as_str().as_bytes());
    match f.model {
        None => out.push(0),
        Some(model) => {
            out.push(1);
            push_field(&mut out, model.as_bytes());
        }
    }
    match f.usage {
        None => out.push(0),
        Some(u) => {
            out.push(1);
            out.extend_from_slice(&u.input_tokens.to_be_bytes());
            out.extend_from_slice(&u.output_tokens.to_be_bytes());
        }
    }
    // Appended only when there is one, so the AAD of every item stored before statuses existed
    // is unchanged; with one, the AAD is longer than any without.
    if let Some(status) = f.status {
        out.push(2);
        push_field(&mut out, status.as_str().as_bytes());
    }
    out
}

/// A length-prefixed field of an AAD. Stored strings are far below 4 GiB; a longer one would
/// saturate the prefix, and such an item cannot be stored in DynamoDB anyway.
pub fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The AAD of a reply's sealed citations: bound to the very item, like its content.
pub fn citations_aad(conversation_id: &ConversationId, sort_key: &SortKey, message_id: &Uuid) -> Vec<u8> {
    let mut out = b"chatbot/citations/v1".to_vec();
    push_field(&mut out, conversation_id.to_string().as_bytes());
    push_field(&mut out, sort_key.as_str().as_bytes());
    push_field(&mut out, message_id.hyphenated().to_string().as_bytes());
    out
}

/// The AAD of a conversation's sealed title: a title opens only under its own conversation.
pub fn title_aad(conversation_id: &ConversationId) -> Vec<u8> {
    let mut out = b"chatbot/title/v1".to_vec();
    push_field(&mut out, conversation_id.to_string().as_bytes());
    out
}

/// Titles are one line of at most this many characters.
pub const TITLE_CHARS: usize = 60;

/// A title as stored: one line, trimmed, at most [`TITLE_CHARS`] characters. The default title
/// of a conversation is its first message, made so.
pub fn title_from(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(TITLE_CHARS) {
        Some((cut, _)) => line[..cut].trim_end().to_owned(),
        None => line,
    }
}

/// A message as stored: the content is an encrypted blob plus its wrapped data key.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedMessage {
    pub conversation_id: ConversationId,
    pub message_id: Uuid,
    pub sort_key: SortKey,
    pub role: Role,
    pub content: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub status: Option<ReplyStatus>,
    /// The reply's citations as JSON, sealed under [`citations_aad`]; `None` when it had none.
    pub citations: Option<crate::ports::Sealed>,
}

impl SealedMessage {
    /// The AAD its content was sealed with: the blob's version byte says which scheme. A v2 blob
    /// relabelled as v1 does not open, since its tag was made over the v2 AAD.
    pub fn aad(&self) -> Vec<u8> {
        match self.content.first() {
            Some(1) => aad_v1(&self.conversation_id, &self.sort_key, self.role),
            _ => aad_v2(&AadFields {
                conversation_id: &self.conversation_id,
                sort_key: &self.sort_key,
                message_id: &self.message_id,
                role: self.role,
                model: self.model.as_deref(),
                usage: self.usage,
                status: self.status,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sort_key_is_fixed_width_micros_then_id() {
        let id = Uuid::nil();
        let key = SortKey::new(datetime!(2026-11-25 14:24:12.5 UTC), id);
        assert_eq!(key.as_str(), "2026-11-25T14:24:12.500000Z#00000000-0000-0000-0000-000000000000");
        assert_eq!(SortKey::parse(key.as_str()), Some(key.clone()));
        assert_eq!(key.time(), Some(datetime!(2026-11-25 14:24:12.5 UTC)));
    }

    #[test]
    fn sort_keys_order_by_time_even_across_seconds() {
        let a = SortKey::new(datetime!(2026-11-25 14:24:09.999999 UTC), Uuid::max());
        let b = SortKey::new(datetime!(2026-11-25 14:24:10 UTC), Uuid::nil());
        assert!(a < b);
    }

    #[test]
    fn next_time_is_strictly_later_when_clock_stalls() {
        let t = datetime!(2026-11-25 14:24:10.000001 UTC);
        let key = SortKey::new(t, Uuid::new_v4());
        assert_eq!(key.next_time(t), t + Duration::microseconds(1));
        assert_eq!(key.next_time(t - Duration::seconds(1)), t + Duration::microseconds(1));
        let later = t + Duration::seconds(2);
        assert_eq!(key.next_time(later), later);
    }

    #[test]
    fn malformed_sort_keys_are_rejected() {
        for bad in [
            "",
            "2026-11-25T14:24:12Z#x",
            "nope#00000000-0000-0000-0000-000000000000",
            "2026-11-25T14:24:12.500000Z",
        ] {
            assert_eq!(SortKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn aad_v1_binds_conversation_key_and_role() {
        let conv = ConversationId::parse("6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11").unwrap();
        let key = SortKey::new(datetime!(2026-01-01 00:00 UTC), Uuid::nil());
        let aad = aad_v1(&conv, &key, Role::User);
        assert_eq!(
            String::from_utf8(aad).unwrap(),
            "v1|6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11|2026-01-01T00:00:00.000000Z#00000000-0000-0000-0000-000000000000|user"
        );
    }

    fn fields(model: Option<&str>, usage: Option<Usage>) -> Vec<u8> {
        let conv = ConversationId::parse("6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11").unwrap();
        let key = SortKey::new(datetime!(2026-01-01 00:00 UTC), Uuid::nil());
        aad_v2(&AadFields {
            conversation_id: &conv,
            sort_key: &key,
            message_id: &Uuid::nil(),
            role: Role::Assistant,
            model,
            usage,
            status: None,
        })
    }

    #[test]
    fn aad_v2_tells_apart_every_field_and_no_model_from_an_empty_one() {
        let usage = Some(Usage { input_tokens: 1, output_tokens: 2 });
        let variants = [
            fields(None, None),
            fields(Some(""), None),
            fields(Some("a|b"), None),
            fields(Some("a"), usage),
            fields(Some("a"), Some(Usage { input_tokens: 2, output_tokens: 1 })),
            fields(Some("a"), Some(Usage { input_tokens: 1, output_tokens: 3 })),
            // Without length prefixes this model id would read as "a" followed by token counts.
            fields(Some("a\u{1}\0\0\0\u{1}\0\0\0\u{2}"), None),
        ];
        for (i, a) in variants.iter().enumerate() {
            for b in &variants[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_title_is_one_line_of_at_most_60_characters() {
        assert_eq!(title_from("  What   is\nthe plan?  "), "What is the plan?");
        let long = "é".repeat(70);
        assert_eq!(title_from(&long).chars().count(), TITLE_CHARS);
        assert_eq!(title_from(&format!("{} tail", "a".repeat(59))), "a".repeat(59));
    }

    #[test]
    fn titles_and_citations_are_bound_to_their_conversation_and_item() {
        let (a, b) = (ConversationId::new(), ConversationId::new());
        assert_ne!(title_aad(&a), title_aad(&b));
        let key = SortKey::new(datetime!(2026-01-01 00:00 UTC), Uuid::nil());
        let other = SortKey::new(datetime!(2026-01-01 00:01 UTC), Uuid::nil());
        assert_ne!(citations_aad(&a, &key, &Uuid::nil()), citations_aad(&a, &other, &Uuid::nil()));
        assert_ne!(citations_aad(&a, &key, &Uuid::nil()), citations_aad(&b, &key, &Uuid::nil()));
    }

    #[test]
    fn a_status_changes_the_aad_and_no_status_keeps_the_old_one() {
        let conv = ConversationId::parse("6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11").unwrap();
        let key = SortKey::new(datetime!(2026-01-01 00:00 UTC), Uuid::nil());
        let with = |status| {
            aad_v2(&AadFields {
                conversation_id: &conv,
                sort_key: &key,
                message_id: &Uuid::nil(),
                role: Role::Assistant,
                model: Some("m"),
                usage: None,
                status,
            })
        };
        let none = with(None);
        assert_eq!(none, fields(Some("m"), None));
        let all = [ReplyStatus::Complete, ReplyStatus::Stopped, ReplyStatus::Failed].map(|s| with(Some(s)));
        for (i, a) in all.iter().enumerate() {
            assert_ne!(a, &none);
            assert!(all[i + 1..].iter().all(|b| b != a));
        }
        for s in [ReplyStatus::Complete, ReplyStatus::Stopped, ReplyStatus::Failed] {
            assert_eq!(ReplyStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_sealed_message_picks_its_aad_by_blob_version() {
        let id = Uuid::new_v4();
        let mut m = SealedMessage {
            conversation_id: ConversationId::new(),
            message_id: id,
            sort_key: SortKey::new(datetime!(2026-01-01 00:00 UTC), id),
            role: Role::User,
            content: vec![1, 0, 0],
            wrapped_key: vec![],
            model: None,
            usage: None,
            status: None,
            citations: None,
        };
        assert_eq!(m.aad(), aad_v1(&m.conversation_id, &m.sort_key, m.role));
        m.content[0] = 2;
        assert!(m.aad().starts_with(b"chatbot/message/v2"));
        assert_eq!(m.sort_key.message_id(), Some(id));
    }
}
