//! The local target's function logs: the gateway writes every handler line as JSON to one file
//! (see `opsctl::logging::init`), each inside a `lambda` span naming its function. This
//! reads that file the way `FilterLogEvents` reads a log group: from a time, through a pattern.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::record;
use crate::config::Env;
use crate::local::state;

/// Where `opsctl local serve` writes its handlers' logs.
pub fn path(env: Env) -> PathBuf {
    state::env_dir(env).join("function-logs.jsonl")
}

/// A file read a piece at a time, as it grows.
pub struct Tail {
    path: PathBuf,
    offset: u64,
}

impl Tail {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), offset: 0 }
    }

    /// The complete lines written since the last call. A half-written last line waits for the
    /// next call; a file that shrank (a new gateway started it again) is read from the start.
    pub fn read_new(&mut self) -> anyhow::Result<Vec<String>> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).with_context(|| format!("reading {}", self.path.display()))?;
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        self.offset += end as u64 + 1;
        Ok(String::from_utf8_lossy(&bytes[..end]).lines().map(str::to_owned).collect())
    }
}

/// CloudWatch Logs' plain filter patterns: every term must appear, a `-term` must not, and a
/// quoted phrase counts as one term. Matching is case-sensitive, as it is on AWS.
#[derive(Debug, Default, PartialEq)]
pub struct Pattern {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Pattern {
    pub fn parse(pattern: &str) -> anyhow::Result<Self> {
        let trimmed = pattern.trim();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            bail!(
                "the local target takes plain filter patterns (terms, -term, \"a phrase\"); JSON and \
                 space-delimited patterns work only against CloudWatch Logs on AWS"
            );
        }
        let mut p = Pattern::default();
        let mut rest = trimmed;
        while !rest.is_empty() {
            let (negated, body) = match rest.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, rest),
            };
            let (term, after) = if let Some(quoted) = body.strip_prefix('"') {
                let end = quoted.find('"').context("the filter pattern has an unclosed quote")?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = body.find(char::is_whitespace).unwrap_or(body.len());
                (&body[..end], &body[end..])
            };
            if !term.is_empty() {
                if negated { &mut p.exclude } else { &mut p.include }.push(term.to_owned());
            }
            rest = after.trim_start();
        }
        Ok(p)
    }

    pub fn matches(&self, line: &str) -> bool {
        self.include.iter().all(|t| line.contains(t.as_str()))
            && !self.exclude.iter().any(|t| line.contains(t.as_str()))
    }
}

/// The records of `function` in `lines` at or after `since_ms` that match `pattern`. Each line
/// is read as JSON once; lines that are not objects (none the gateway writes) are skipped.
pub fn select(lines: &[String], function: &str, since_ms: i64, pattern: &Pattern) -> Vec<record::Record> {
    lines
        .iter()
        .filter(|l| pattern.matches(l))
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        })
        .filter(|map| record::local_function(map).as_deref() == Some(function))
        .filter(|map| record::line_time_ms(map).is_some_and(|t| t >= since_ms))
        .map(|map| record::from_json(function, &map, 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_cloudwatch_terms() {
        let p = Pattern::parse(r#"chat "turn done" -ERROR"#).unwrap();
        assert!(p.matches("INFO chat turn done"));
        assert!(!p.matches("ERROR chat turn done"));
        assert!(!p.matches("INFO chat turn"));
        assert!(Pattern::parse("").unwrap().matches("anything"));
        assert!(Pattern::parse(r#"{ $.level = "ERROR" }"#).unwrap_err().to_string().contains("AWS"));
        assert!(Pattern::parse(r#""open"#).is_err());
    }

    #[test]
    fn select_keeps_the_function_the_time_and_the_pattern() {
        let line = |f: &str, t: &str, m: &str| {
            format!(
                r#"{{"timestamp":"{t}","level":"INFO","message":"{m}","spans":[{{"name":"lambda","function":"{f}"}}]}}"#
            )
        };
        let lines = vec![
            line("chat", "2026-11-25T10:00:00Z", "old"),
            line("chat", "2026-11-25T10:10:00Z", "new turn"),
            line("ingest", "2026-11-25T10:10:00Z", "document done"),
            r#"{"timestamp":"2026-11-25T10:10:00Z","message":"gateway ready"}"#.to_owned(),
            line("chat", "2026-11-25T10:11:00Z", "other"),
        ];
        let since = crate::logs::parse_since("2026-11-25T10:10:00Z", 0).unwrap();
        let got = select(&lines, "chat", since, &Pattern::parse("turn").unwrap());
        assert_eq!(got.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["new turn"]);
        assert_eq!(select(&lines, "chat", since, &Pattern::default()).len(), 2);
    }

    #[test]
    fn the_tail_returns_whole_lines_and_survives_a_new_file() {
        let dir = std::env::temp_dir().join(format!("opsctl-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("log.jsonl");
        let mut tail = Tail::new(&file);
        assert!(tail.read_new().unwrap().is_empty());
        std::fs::write(&file, "one\ntwo\nthr").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["one", "two"]);
        std::fs::write(&file, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["three"]);
        std::fs::write(&file, "new\n").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["new"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
