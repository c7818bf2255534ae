//! A function's log lines, as records. On AWS they come from the function's CloudWatch Logs group; on the local
//! target from the file the gateway writes its handlers' logs to. The handlers never log message
//! content or the token (`runtime/core/tests/chat_logs.rs`), so neither can show up here.

pub mod local_file;
pub mod record;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use local_file::path as local_log_path;
pub use record::Record;

use crate::config::Env;
use crate::deployed::Deployed;
use crate::functions::Function;
use crate::interact::Interaction;
use crate::local::state;

/// Which lines to read.
#[derive(Debug, Clone)]
pub struct Query {
    pub function: Function,
    /// Milliseconds since the epoch of the oldest line wanted.
    pub since_ms: i64,
    pub filter: Option<String>,
    /// Keep reading new lines until Ctrl-C.
    pub follow: bool,
}

const FOLLOW_POLL_AWS: Duration = Duration::from_secs(2);
const FOLLOW_POLL_LOCAL: Duration = Duration::from_millis(500);

/// The local target's lines of `env`, each handed to `show`; returns how many were.
pub async fn local(
    env: Env,
    args: &Query,
    mut show: impl FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let since_ms = args.since_ms;
    let path = local_file::path(env);
    let running = state::load(env)?;
    if running.is_none() && !path.exists() {
        bail!("the local target of {env} is not running and has left no logs: `opsctl local up --env {env}`");
    }
    if args.function != Function::Chat && running.as_ref().is_some_and(|s| !s.rag) {
        bail!(
            "the {} function runs only with RAG, which is off on the local target of {env}: \
             `opsctl local down --env {env}` then `opsctl local up --env {env} --rag`",
            args.function.name()
        );
    }
    let pattern = local_file::Pattern::parse(args.filter.as_deref().unwrap_or(""))?;
    let mut tail = local_file::Tail::new(&path);
    let mut shown = 0;
    loop {
        let lines = tail.read_new()?;
        for r in local_file::select(&lines, args.function.name(), since_ms, &pattern) {
            show(&r)?;
            shown += 1;
        }
        if !args.follow || wait_or_interrupt(FOLLOW_POLL_LOCAL).await {
            return Ok(shown);
        }
    }
}

/// The deployed function's CloudWatch Logs lines, each handed to `show`; returns how many were.
pub async fn aws(
    d: &Deployed,
    ui: &dyn Interaction,
    args: &Query,
    mut show: impl FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let output = args.function.output_key();
    let since_ms = args.since_ms;
    if args.function != Function::Chat {
        d.require_rag(&format!("opsctl logs {}", args.function.name()))?;
    }
    let group = format!("/aws/lambda/{}", d.output(output)?);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&d.sdk);
    let mut start = since_ms;
    // Events at the newest time already printed, which the next poll (from that time) repeats.
    let mut seen_at_start: HashSet<String> = HashSet::new();
    let mut shown = 0;
    let mut told_missing = false;
    loop {
        match read_group(&logs, &group, start, args.filter.as_deref()).await? {
            None if !told_missing => {
                ui.note(&format!(
                    "{group} does not exist yet: the {} Lambda has not run since it was deployed",
                    args.function.name()
                ));
                told_missing = true;
            }
            None => {}
            Some(events) => {
                for (id, ts, message) in events {
                    if ts == start && seen_at_start.contains(&id) {
                        continue;
                    }
                    if ts > start {
                        start = ts;
                        seen_at_start.clear();
                    }
                    seen_at_start.insert(id);
                    show(&record::parse(args.function.name(), &message, ts))?;
                    shown += 1;
                }
            }
        }
        if !args.follow || wait_or_interrupt(FOLLOW_POLL_AWS).await {
            return Ok(shown);
        }
    }
}

/// `(event id, timestamp, message)` of every event from `start`, oldest first; `None` when the
/// group does not exist (Lambda creates it with the function's first log line).
pub async fn read_group(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start: i64,
    pattern: Option<&str>,
) -> anyhow::Result<Option<Vec<(String, i64, String)>>> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let result = logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(start)
            .set_filter_pattern(pattern.map(str::to_owned))
            .set_next_token(token.take())
            .send()
            .await;
        let page = match result {
            Ok(page) => page,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                return Ok(None);
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_parameter_exception()) => {
                return Err(e).context(
                    "CloudWatch Logs refused the filter pattern; see \
                     https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html",
                );
            }
            Err(e) => return Err(e).with_context(|| format!("reading the log group {group}")),
        };
        events.extend(page.events().iter().map(|e| {
            (
                e.event_id().unwrap_or_default().to_owned(),
                e.timestamp().unwrap_or(start),
                e.message().unwrap_or_default().to_owned(),
            )
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    // Interleaved log streams come back grouped; people read time order.
    events.sort_by_key(|(_, ts, _)| *ts);
    Ok(Some(events))
}

/// Sleeps for `pause`; true when Ctrl-C came first, which ends `--follow` normally.
async fn wait_or_interrupt(pause: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => false,
        _ = tokio::signal::ctrl_c() => true,
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `30s`, `15m`, `2h`, `1d` before `now_ms`, or an RFC 3339 time.
pub fn parse_since(since: &str, now_ms: i64) -> anyhow::Result<i64> {
    let s = since.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).context("--since is out of range");
    }
    let bad = || {
        anyhow::anyhow!(
            "--since {since:?} is not a duration or a time: use 30s, 15m, 2h, 1d or 2026-11-25T10:00:00Z"
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: i64 = s[..split].parse().map_err(|_| bad())?;
    let unit_ms = match &s[split..] {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    Ok(now_ms - n.checked_mul(unit_ms).ok_or_else(bad)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        assert_eq!(parse_since("15m", 1_000_000).unwrap(), 100_000);
        assert_eq!(parse_since("30s", 100_000).unwrap(), 70_000);
        assert_eq!(parse_since("1d", 86_400_000).unwrap(), 0);
        assert_eq!(parse_since("1970-01-01T00:00:02Z", 0).unwrap(), 2_000);
        for bad in ["", "15", "m", "15 minutes", "-5m", "99999999999999999d"] {
            let e = parse_since(bad, 0).unwrap_err().to_string();
            assert!(e.contains("30s, 15m"), "{bad}: {e}");
        }
    }
}
