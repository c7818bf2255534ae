//! The events that reach the ingestion Lambda, reduced to what it acts on.
//!
//! Two shapes arrive: S3 notifications (`Records[]`, from a bucket notification or a replay) and
//! EventBridge `Object Created` / `Object Deleted` events (what the templates wire up). S3
//! notifications carry the key URL-encoded, `+` for a space, and it is decoded here, once.
//! EventBridge events carry it as stored (a key with `:` arrives with its `:`), so decoding it
//! would corrupt keys that contain `+` or `%`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Object;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// What happened to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentEvent {
    Upserted {
        key: String,
    },
    Removed {
        key: String,
    },
    /// `opsctl docs reindex`: index the key's current content even if it is unchanged.
    Reindex {
        key: String,
    },
}

impl DocumentEvent {
    pub fn key(&self) -> &str {
        match self {
            Self::Upserted { key } | Self::Removed { key } | Self::Reindex { key } => key,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    #[error(
        "unrecognised event: expected an S3 notification (Records[]), an EventBridge S3 \
         'Object Created'/'Object Deleted' event or opsctl's {{\"reindex\": [keys]}}"
    )]
    Unrecognised,
    #[error("record {index}: {reason}")]
    BadRecord { index: usize, reason: String },
}

/// One record of an S3 notification, as far as ingestion reads it. The library's own record
/// requires every field S3 sends (event time, identity, request parameters), but opsctl's local
/// ingestion and replayed events send only these, so only these are required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationRecord {
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    s3: Option<NotificationEntity>,
}

#[derive(Deserialize)]
struct NotificationEntity {
    object: S3Object,
}

/// The `detail` of an EventBridge `Object Created` / `Object Deleted` event from S3.
#[derive(Serialize, Deserialize)]
struct S3ObjectDetail {
    object: S3ObjectRef,
}

/// The object an EventBridge S3 event names; its other fields (size, etag, version) are unused.
#[derive(Serialize, Deserialize)]
struct S3ObjectRef {
    key: String,
}

/// The document events in `event`, in order. Records about other event types (restores,
/// tagging) are dropped; a record that cannot be read fails the whole event, so Lambda retries it
/// and the dead-letter queue keeps it rather than losing it silently.
pub fn parse_event(event: &Value) -> Result<Vec<DocumentEvent>, EventError> {
    // `{"reindex": ["docs/a.md", ...]}`: keys as stored, sent by opsctl, never by S3.
    if let Some(keys) = event.get("reindex") {
        let keys = keys.as_array().ok_or(EventError::BadRecord {
            index: 0,
            reason: "`reindex` must be a list of object keys".into(),
        })?;
        return keys
            .iter()
            .enumerate()
            .map(|(index, key)| match key.as_str() {
                Some(k) if !k.is_empty() => Ok(DocumentEvent::Reindex { key: k.to_owned() }),
                _ => Err(EventError::BadRecord { index, reason: "not a non-empty object key".into() }),
            })
            .collect();
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut out = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let bad = |reason: &str| EventError::BadRecord { index, reason: reason.to_owned() };
            let record = NotificationRecord::deserialize(record).map_err(|e| bad(&e.to_string()))?;
            let name = record.event_name.ok_or_else(|| bad("no eventName"))?;
            let raw = record.s3.and_then(|s3| s3.object.key).ok_or_else(|| bad("no s3.object.key"))?;
            let key = decode_key(&raw).map_err(|reason| bad(&reason))?;
            if name.starts_with("ObjectCreated") {
                out.push(DocumentEvent::Upserted { key });
            } else if name.starts_with("ObjectRemoved") {
                out.push(DocumentEvent::Removed { key });
            }
        }
        return Ok(out);
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") {
        let bad = |reason: &str| EventError::BadRecord { index: 0, reason: reason.to_owned() };
        let event =
            EventBridgeEvent::<S3ObjectDetail>::deserialize(event).map_err(|e| bad(&e.to_string()))?;
        let key = event.detail.object.key;
        if key.is_empty() {
            return Err(bad("empty object key"));
        }
        return Ok(match event.detail_type.as_str() {
            "Object Created" => vec![DocumentEvent::Upserted { key }],
            "Object Deleted" => vec![DocumentEvent::Removed { key }],
            _ => Vec::new(),
        });
    }
    Err(EventError::Unrecognised)
}

/// Decodes an event's object key: `+` is a space and `%XX` a byte of UTF-8.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    let key = percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| format!("object key {raw:?} does not decode to UTF-8"))?
        .into_owned();
    if key.is_empty() {
        return Err("empty object key".to_owned());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn s3_record(name: &str, key: &str) -> Value {
        json!({"eventSource": "aws:s3", "eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": key}}})
    }

    #[test]
    fn keys_with_spaces_plus_signs_and_unicode_are_decoded() {
        assert_eq!(decode_key("docs/my+r%C3%A9sum%C3%A9+2026.pdf").unwrap(), "docs/my résumé 2026.pdf");
        assert_eq!(decode_key("docs/c%2B%2B+notes.md").unwrap(), "docs/c++ notes.md");
        assert_eq!(decode_key("docs/%E6%97%A5%E6%9C%AC.txt").unwrap(), "docs/日本.txt");
        assert_eq!(decode_key("docs/100%25.txt").unwrap(), "docs/100%.txt");
        assert!(decode_key("docs/%FF.txt").is_err());
        assert!(decode_key("").is_err());
    }

    #[test]
    fn a_reindex_request_names_keys_as_stored() {
        let event = json!({"reindex": ["docs/a+b.md", "docs/100%.txt"]});
        assert_eq!(
            parse_event(&event).unwrap(),
            vec![
                DocumentEvent::Reindex { key: "docs/a+b.md".into() },
                DocumentEvent::Reindex { key: "docs/100%.txt".into() },
            ]
        );
        assert!(matches!(parse_event(&json!({"reindex": "docs/a.md"})), Err(EventError::BadRecord { .. })));
        assert!(matches!(
            parse_event(&json!({"reindex": ["docs/a.md", ""]})),
            Err(EventError::BadRecord { index: 1, .. })
        ));
        assert!(EventError::Unrecognised.to_string().contains(r#"{"reindex": [keys]}"#));
    }

    #[test]
    fn s3_notifications_become_upserts_and_removals_in_order() {
        let event = json!({"Records": [
            s3_record("ObjectCreated:Put", "docs/a+b.md"),
            s3_record("ObjectRemoved:Delete", "docs/old.txt"),
            s3_record("ObjectRestore:Completed", "docs/x.txt"),
        ]});
        assert_eq!(
            parse_event(&event).unwrap(),
            vec![
                DocumentEvent::Upserted { key: "docs/a b.md".into() },
                DocumentEvent::Removed { key: "docs/old.txt".into() },
            ]
        );
    }

    #[test]
    fn eventbridge_events_are_read() {
        let created = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "docs/cv final+v2 100%.pdf", "size": 10}}});
        assert_eq!(
            parse_event(&created).unwrap(),
            vec![DocumentEvent::Upserted { key: "docs/cv final+v2 100%.pdf".into() }],
            "EventBridge keys are taken as they are"
        );
        let deleted = json!({"source": "aws.s3", "detail-type": "Object Deleted",
            "detail": {"object": {"key": "docs/cv.pdf"}}});
        assert_eq!(
            parse_event(&deleted).unwrap(),
            vec![DocumentEvent::Removed { key: "docs/cv.pdf".into() }]
        );
    }

    #[test]
    fn unreadable_events_are_errors_not_silence() {
        assert_eq!(parse_event(&json!({"hello": 1})), Err(EventError::Unrecognised));
        let broken = json!({"Records": [{"eventName": "ObjectCreated:Put"}]});
        assert!(matches!(parse_event(&broken), Err(EventError::BadRecord { index: 0, .. })));
    }

    #[test]
    fn a_full_s3_notification_is_read() {
        let event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-12-01T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                "object": {"key": "docs/a%2Bb.md", "size": 10, "eTag": "e", "sequencer": "0A"}}}]});
        assert_eq!(parse_event(&event).unwrap(), vec![DocumentEvent::Upserted { key: "docs/a+b.md".into() }]);
    }

    #[test]
    fn eventbridge_events_without_a_key_or_type_are_errors() {
        for event in [
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {"object": {}}}),
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {"object": {"key": ""}}}),
            json!({"source": "aws.s3", "detail": {"object": {"key": "docs/a.md"}}}),
        ] {
            assert!(matches!(parse_event(&event), Err(EventError::BadRecord { index: 0, .. })), "{event}");
        }
        let other = json!({"source": "aws.s3", "detail-type": "Object Tags Added", "detail": {"object": {"key": "k"}}});
        assert_eq!(parse_event(&other).unwrap(), vec![]);
    }
}
