//! `opsctl cost`: an environment's month-to-date usage from CloudWatch, priced from an embedded,
//! dated price table, and projected to the month's end.
//!
//! Money is f64 dollars throughout and rounded only where it is shown: the amounts are estimates
//! from list prices, and sub-cent errors from floating point are far below their uncertainty.

pub mod bill;
#[cfg(test)]
mod bill_tests;
pub mod estimate;
pub mod prices;
pub mod report;
pub mod usage;

use anyhow::{Context, bail};
use time::{Date, Month, OffsetDateTime, Time};

/// The part of a calendar month (UTC) the usage is read for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub month_end: OffsetDateTime,
}

/// A window shorter than this is stretched to it, so a projection made in the first seconds of
/// a month does not divide by (almost) zero.
const MIN_ELAPSED_SECONDS: f64 = 3_600.0;

impl Window {
    /// The current month up to `now`, or the whole of a past `YYYY-MM`.
    pub fn new(month: Option<&str>, now: OffsetDateTime) -> anyhow::Result<Self> {
        let (year, month) = match month {
            Some(m) => parse_month(m)?,
            None => (now.year(), now.month()),
        };
        let start = Date::from_calendar_date(year, month, 1)?.with_time(Time::MIDNIGHT).assume_utc();
        let (next_year, next_month) =
            if month == Month::December { (year + 1, Month::January) } else { (year, month.next()) };
        let month_end =
            Date::from_calendar_date(next_year, next_month, 1)?.with_time(Time::MIDNIGHT).assume_utc();
        if start > now {
            bail!("{year}-{:02} has not started yet: pass the current month or an earlier one", month as u8);
        }
        Ok(Self { start, end: now.min(month_end), month_end })
    }

    pub fn label(&self) -> String {
        format!("{}-{:02}", self.start.year(), self.start.month() as u8)
    }

    pub fn elapsed_hours(&self) -> f64 {
        ((self.end - self.start).as_seconds_f64().max(MIN_ELAPSED_SECONDS)) / 3_600.0
    }

    pub fn month_hours(&self) -> f64 {
        (self.month_end - self.start).as_seconds_f64() / 3_600.0
    }

    /// How much of the month has passed: 1 for a past month.
    pub fn elapsed_fraction(&self) -> f64 {
        (self.elapsed_hours() / self.month_hours()).min(1.0)
    }

    pub fn is_complete(&self) -> bool {
        self.end >= self.month_end
    }
}

fn parse_month(s: &str) -> anyhow::Result<(i32, Month)> {
    let bad = || format!("--month {s}: expected YYYY-MM, such as 2026-03");
    let (y, m) = s.split_once('-').with_context(bad)?;
    let year: i32 = y.parse().ok().filter(|_| y.len() == 4).with_context(bad)?;
    let month: u8 = m.parse().ok().filter(|_| m.len() == 2).with_context(bad)?;
    Ok((year, Month::try_from(month).ok().with_context(bad)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_current_month_runs_to_now() {
        let w = Window::new(None, datetime!(2026-11-16 00:00 UTC)).unwrap();
        assert_eq!(w.start, datetime!(2026-11-01 00:00 UTC));
        assert_eq!(w.month_end, datetime!(2026-12-01 00:00 UTC));
        assert_eq!(w.elapsed_hours(), 360.0);
        assert_eq!(w.month_hours(), 720.0);
        assert_eq!(w.elapsed_fraction(), 0.5);
        assert_eq!(w.label(), "2026-11");
        assert!(!w.is_complete());
    }

    #[test]
    fn a_past_month_is_whole_and_december_ends_in_january() {
        let w = Window::new(Some("2025-12"), datetime!(2026-11-16 00:00 UTC)).unwrap();
        assert_eq!(w.end, datetime!(2026-01-01 00:00 UTC));
        assert_eq!(w.elapsed_fraction(), 1.0);
        assert!(w.is_complete());
    }

    #[test]
    fn bad_and_future_months_are_refused() {
        let now = datetime!(2026-11-16 00:00 UTC);
        for bad in ["2026-13", "2026-1", "26-01", "november", "2026/11"] {
            let err = Window::new(Some(bad), now).unwrap_err().to_string();
            assert!(err.contains("YYYY-MM"), "{bad}: {err}");
        }
        assert!(Window::new(Some("2026-12"), now).unwrap_err().to_string().contains("not started"));
    }
}
