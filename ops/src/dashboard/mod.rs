//! `opsctl dashboard`: the live terminal dashboard, and the data it shows.

pub mod cloudwatch;
pub mod model;
pub mod state;
pub mod terminal;
pub mod view;

use std::time::Duration;

const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// `30s`, `2m` or plain seconds; at least 5 s, so that a dashboard left open stays within
/// CloudWatch's free API calls.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix('s') {
        Some(n) => (n, 1),
        None => match text.strip_suffix('m') {
            Some(n) => (n, 60),
            None => (text, 1),
        },
    };
    let n: u64 =
        number.trim().parse().map_err(|_| format!("`{text}` is not a duration such as 30s, 2m or 45"))?;
    let interval = Duration::from_secs(n.saturating_mul(unit));
    if interval < MIN_INTERVAL {
        return Err(format!("the interval must be at least {}s", MIN_INTERVAL.as_secs()));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_accept_seconds_and_minutes_and_refuse_too_short_ones() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("45"), Ok(Duration::from_secs(45)));
        assert!(parse_interval("4s").unwrap_err().contains("at least 5s"));
        assert!(parse_interval("1h").unwrap_err().contains("not a duration"));
        assert!(parse_interval("").is_err());
    }
}
