//! What the dashboard shows, independent of where it came from: the poller fills a [`Snapshot`]
//! from CloudWatch (or a test's fixed series), and the screen only draws it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

/// The time window on screen; keys 1-5 pick it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
pub enum TimeRange {
    #[value(name = "1h")]
    #[serde(rename = "1h")]
    H1,
    #[value(name = "3h")]
    #[serde(rename = "3h")]
    H3,
    #[value(name = "12h")]
    #[serde(rename = "12h")]
    H12,
    #[value(name = "24h")]
    #[serde(rename = "24h")]
    H24,
    #[value(name = "7d")]
    #[serde(rename = "7d")]
    D7,
}

impl TimeRange {
    pub const ALL: [TimeRange; 5] = [Self::H1, Self::H3, Self::H12, Self::H24, Self::D7];

    pub fn seconds(self) -> i64 {
        match self {
            Self::H1 => 3_600,
            Self::H3 => 3 * 3_600,
            Self::H12 => 12 * 3_600,
            Self::H24 => 24 * 3_600,
            Self::D7 => 7 * 86_400,
        }
    }

    /// The period asked of CloudWatch: at most 1,440 points per series over the window, and
    /// never finer than the metrics' own 60 s.
    pub fn period(self) -> i32 {
        match self {
            Self::H1 | Self::H3 => 60,
            Self::H12 | Self::H24 => 300,
            Self::D7 => 3_600,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::H1 => "1h",
            Self::H3 => "3h",
            Self::H12 => "12h",
            Self::H24 => "24h",
            Self::D7 => "7d",
        }
    }

    /// The range key `c` ('1'-'5') picks.
    pub fn from_key(c: char) -> Option<Self> {
        let i = c.to_digit(10)? as usize;
        Self::ALL.get(i.checked_sub(1)?).copied()
    }
}

/// One metric's points, oldest first: `(epoch seconds, value)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Series {
    pub points: Vec<(i64, f64)>,
}

impl Series {
    pub fn latest(&self) -> Option<f64> {
        self.points.last().map(|(_, v)| *v)
    }
}

pub use crate::alarms::{AlarmRow, AlarmState};

/// Month-to-date cost, when known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostSummary {
    pub month_to_date_usd: f64,
    pub projected_usd: f64,
    pub budget_usd: Option<f64>,
    /// AWS/Billing EstimatedCharges, when billing alerts are on.
    pub billing_estimate_usd: Option<f64>,
}

/// Everything one refresh fetched. `series` is keyed by the spec's metric ids
/// (`dashboards/panels.json`); derived values are computed from them on screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub range: TimeRange,
    /// When the refresh finished, RFC 3339.
    pub fetched_at: String,
    pub series: BTreeMap<String, Series>,
    pub alarms: Vec<AlarmRow>,
    pub cost: Option<CostSummary>,
}

/// Where snapshots come from: CloudWatch, or fixed series in tests.
#[async_trait]
pub trait Source: Send + Sync {
    /// One refresh. The error is one line for the status bar.
    async fn fetch(&self, range: TimeRange) -> Result<Snapshot, String>;
}
