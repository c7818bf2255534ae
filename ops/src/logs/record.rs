//! One log line made readable: the Lambdas write JSON objects (see `chatbot_core::telemetry`),
//! and Lambda itself adds `START`, `END` and `REPORT` lines in plain text. Both become a
//! [`Record`] with a time, a level, a request id, a message and the remaining fields.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Fields shown in their own columns, or that only repeat what the columns say.
const COLUMNS: &[&str] =
    &["timestamp", "level", "message", "request_id", "requestId", "spans", "span", "target"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// RFC 3339, UTC, in milliseconds.
    pub time: String,
    pub function: String,
    /// `INFO`, `WARN`, `ERROR`…; `-` for Lambda's own lines.
    pub level: String,
    /// The handler's request id, or Lambda's; `-` when the line has neither.
    pub request_id: String,
    pub message: String,
    pub fields: BTreeMap<String, Value>,
}

/// Reads `line`; `fallback_ms` is when the log service received it, for lines without a time.
pub fn parse(function: &str, line: &str, fallback_ms: i64) -> Record {
    let line = line.trim_end();
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => from_json(function, &map, fallback_ms),
        _ => from_text(function, line, fallback_ms),
    }
}

/// A line already read as a JSON object.
pub fn from_json(function: &str, map: &serde_json::Map<String, Value>, fallback_ms: i64) -> Record {
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    let time = text("timestamp")
        .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
        .map_or_else(|| format_ms(fallback_ms), format_time);
    let request_id = text("request_id")
        .or_else(|| span_field(map, "request_id"))
        .or_else(|| span_field(map, "requestId"))
        .unwrap_or_else(|| "-".into());
    let fields = map
        .iter()
        .filter(|(k, _)| !COLUMNS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Record {
        time,
        function: function.to_owned(),
        level: text("level").unwrap_or_else(|| "-".into()),
        request_id,
        message: text("message").unwrap_or_default(),
        fields,
    }
}

/// A field of the innermost span that has it: `tracing`'s JSON lists spans outermost first.
fn span_field(map: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    let spans = map.get("spans").and_then(Value::as_array);
    let from_list =
        spans.and_then(|s| s.iter().rev().find_map(|span| span[name].as_str().map(str::to_owned)));
    from_list.or_else(|| map.get("span").and_then(|s| s[name].as_str()).map(str::to_owned))
}

/// Lambda's platform lines: `REPORT RequestId: 8f… Duration: 12.5 ms Billed Duration: 13 ms …`.
fn from_text(function: &str, line: &str, fallback_ms: i64) -> Record {
    let (request_id, message) = match line.split_once("RequestId: ") {
        Some((head, rest)) => {
            let id_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
            let tail = rest[id_end..].split_whitespace().collect::<Vec<_>>().join(" ");
            let message = format!("{} {tail}", head.trim()).trim().to_owned();
            (rest[..id_end].to_owned(), message)
        }
        None => ("-".to_owned(), line.split_whitespace().collect::<Vec<_>>().join(" ")),
    };
    Record {
        time: format_ms(fallback_ms),
        function: function.to_owned(),
        level: "-".into(),
        request_id,
        message,
        fields: BTreeMap::new(),
    }
}

/// The `function` a line of the local gateway's log belongs to: the innermost `lambda` span's.
pub fn local_function(map: &serde_json::Map<String, Value>) -> Option<String> {
    span_field(map, "function")
}

/// One line for people: `2026-11-25T22:40:01.123Z INFO  local-7-3  chat turn  latency_ms=12`.
pub fn to_text(r: &Record) -> String {
    let mut line = format!("{} {:<5} {}  {}", r.time, r.level, r.request_id, r.message);
    for (k, v) in &r.fields {
        let v = match v {
            Value::String(s) if !s.contains(char::is_whitespace) && !s.is_empty() => s.clone(),
            other => other.to_string(),
        };
        line.push_str(&format!("  {k}={v}"));
    }
    line
}

pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_or_else(|_| ms.to_string(), format_time)
}

fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Milliseconds since the epoch of an RFC 3339 `timestamp` field, if the line has one.
pub fn line_time_ms(map: &serde_json::Map<String, Value>) -> Option<i64> {
    let t = OffsetDateTime::parse(map.get("timestamp")?.as_str()?, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_line_keeps_its_own_time_and_request_id() {
        let line = r#"{"timestamp":"2026-11-25T22:40:01.123456Z","level":"INFO","message":"chat turn","request_id":"req-1","conversation_id":"c-1","latency_ms":12,"spans":[{"name":"lambda","function":"chat"}]}"#;
        let r = parse("chat", line, 0);
        assert_eq!(r.time, "2026-11-25T22:40:01.123Z");
        assert_eq!(
            (r.level.as_str(), r.request_id.as_str(), r.message.as_str()),
            ("INFO", "req-1", "chat turn")
        );
        assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["conversation_id", "latency_ms"]);
        assert_eq!(
            to_text(&r),
            "2026-11-25T22:40:01.123Z INFO  req-1  chat turn  conversation_id=c-1  latency_ms=12"
        );
    }

    #[test]
    fn the_request_id_comes_from_the_innermost_span_that_has_one() {
        let line = r#"{"level":"ERROR","message":"document rejected","key":"docs/a.pdf","spans":[{"name":"Lambda runtime invoke","requestId":"outer"},{"name":"lambda","requestId":"inner"}]}"#;
        let r = parse("ingest", line, 1_764_110_401_000);
        assert_eq!(r.request_id, "inner");
        assert_eq!(r.time, format_ms(1_764_110_401_000));
        assert_eq!(r.fields["key"], "docs/a.pdf");
    }

    #[test]
    fn lambda_platform_lines_are_read_too() {
        let r = parse(
            "chat",
            "REPORT RequestId: 8f1c-22\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMax Memory Used: 30 MB\n",
            0,
        );
        assert_eq!(r.request_id, "8f1c-22");
        assert_eq!(r.message, "REPORT Duration: 12.50 ms Billed Duration: 13 ms Max Memory Used: 30 MB");
        assert_eq!(r.level, "-");
        let init = parse("chat", "INIT_START Runtime Version: provided:al2023.v50", 0);
        assert_eq!(
            (init.request_id.as_str(), init.message.as_str()),
            ("-", "INIT_START Runtime Version: provided:al2023.v50")
        );
    }

    #[test]
    fn text_shows_strings_with_spaces_quoted() {
        let line = r#"{"level":"WARN","message":"m","error":"the model is busy","n":null}"#;
        assert!(to_text(&parse("chat", line, 0)).ends_with(r#"error="the model is busy"  n=null"#));
    }

    #[test]
    fn the_local_function_is_the_innermost_lambda_span() {
        let object = |line: &str| match serde_json::from_str::<Value>(line).unwrap() {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        };
        let line = r#"{"message":"x","spans":[{"name":"lambda","function":"chat"},{"name":"lambda","function":"retrieve"}]}"#;
        assert_eq!(local_function(&object(line)).as_deref(), Some("retrieve"));
        assert_eq!(local_function(&object(r#"{"message":"gateway ready"}"#)), None);
        assert_eq!(line_time_ms(&object(r#"{"timestamp":"1970-01-01T00:00:01.5Z"}"#)), Some(1500));
    }
}
