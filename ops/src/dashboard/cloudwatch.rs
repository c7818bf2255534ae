//! The dashboard's data from CloudWatch: every metric panel of the spec in one `GetMetricData`
//! call per refresh (paged only past CloudWatch's 500 queries per call), the environment's
//! alarms, and the billing estimate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::model::{CostSummary, Series, Snapshot, Source, TimeRange};
use crate::alarms::read_alarms;
use crate::dashboards::Spec;
use crate::deployed::Deployed;

/// GetMetricData's limit on queries per call.
const MAX_QUERIES: usize = 500;

pub struct CloudWatchSource {
    client: Client,
    billing: Client,
    spec: Spec,
    environment: String,
    /// The chat Lambda's name: the API's metrics are its function URL's.
    chat_function: Option<String>,
    rag: bool,
    metric_calls: AtomicUsize,
    /// With a stack: the usage-based cost, as `opsctl cost` works it out, refreshed now and then.
    cost: Option<CostFeed>,
}

struct CostFeed {
    deployed: Deployed,
    budget_usd: Option<f64>,
    last: std::sync::Mutex<Option<(Instant, CostSummary)>>,
}

/// The cost is read from a month of usage; refreshing it with every metric refresh would only
/// multiply CloudWatch calls.
const COST_REFRESH: Duration = Duration::from_secs(600);

impl CloudWatchSource {
    pub fn new(
        sdk: &SdkConfig,
        spec: Spec,
        environment: &str,
        chat_function: Option<String>,
        rag: bool,
    ) -> Self {
        Self {
            client: Client::new(sdk),
            billing: crate::cost::usage::billing_client(sdk),
            spec,
            environment: environment.to_owned(),
            chat_function,
            rag,
            metric_calls: AtomicUsize::new(0),
            cost: None,
        }
    }

    /// Adds the cost panel's usage-based estimate for `deployed`, against the stack's
    /// `MonthlyBudgetUsd`.
    pub fn with_cost(mut self, deployed: Deployed) -> Self {
        let budget_usd = deployed.parameters.get("MonthlyBudgetUsd").and_then(|b| b.parse().ok());
        self.cost = Some(CostFeed { deployed, budget_usd, last: std::sync::Mutex::new(None) });
        self
    }

    /// The cost summary: the usage-based estimate when there is a stack (cached for
    /// [`COST_REFRESH`]), else AWS's billing estimate alone.
    async fn cost(&self) -> Option<CostSummary> {
        let Some(feed) = &self.cost else { return self.billing_estimate().await };
        let cached = feed.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((at, summary)) = &cached
            && at.elapsed() < COST_REFRESH
        {
            return Some(summary.clone());
        }
        let window = crate::cost::Window::new(None, OffsetDateTime::now_utc()).ok()?;
        match crate::cost::report::report_for(&feed.deployed, window).await {
            Ok(report) => {
                let summary = CostSummary {
                    month_to_date_usd: report.bill.month_to_date_usd,
                    projected_usd: report.bill.projected_usd,
                    budget_usd: feed.budget_usd,
                    billing_estimate_usd: report.billing_estimate_usd,
                };
                *feed.last.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), summary.clone()));
                Some(summary)
            }
            // Keep showing the last estimate rather than none.
            Err(_) => cached.map(|(_, s)| s),
        }
    }

    /// `GetMetricData` calls made so far (one per refresh below 500 metrics).
    pub fn metric_calls(&self) -> usize {
        self.metric_calls.load(Ordering::Relaxed)
    }

    /// The spec's metric queries for this environment; `AWS/Billing` is asked of us-east-1
    /// separately, and a metric naming the chat function is left out when the stack names none.
    fn queries(&self, period: i32) -> Vec<MetricDataQuery> {
        self.spec
            .metrics(self.rag)
            .into_iter()
            .filter(|m| m.namespace != "AWS/Billing")
            .filter_map(|m| {
                let mut dims = Vec::with_capacity(m.dimensions.len());
                for (name, value) in &m.dimensions {
                    let value = value.replace("${Environment}", &self.environment);
                    let value = match (&self.chat_function, value.contains("${ChatFunctionName}")) {
                        (Some(function), true) => value.replace("${ChatFunctionName}", function),
                        (None, true) => return None,
                        _ => value,
                    };
                    dims.push(Dimension::builder().name(name).value(value).build());
                }
                let metric = Metric::builder()
                    .namespace(&m.namespace)
                    .metric_name(&m.name)
                    .set_dimensions(Some(dims))
                    .build();
                let stat = MetricStat::builder().metric(metric).period(period).stat(&m.stat).build();
                Some(MetricDataQuery::builder().id(&m.id).metric_stat(stat).return_data(true).build())
            })
            .collect()
    }

    async fn series(&self, range: TimeRange, now: SystemTime) -> Result<BTreeMap<String, Series>, String> {
        // Windows aligned to the period give whole buckets; the end is rounded up so the
        // current, partial bucket (the newest data) is included.
        let period = u64::from(range.period().unsigned_abs());
        let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let end =
            SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs.div_ceil(period).max(1) * period + period);
        let start = end - Duration::from_secs(range.seconds().unsigned_abs());
        let mut out: BTreeMap<String, Series> = BTreeMap::new();
        for batch in self.queries(range.period()).chunks(MAX_QUERIES) {
            let mut token: Option<String> = None;
            loop {
                self.metric_calls.fetch_add(1, Ordering::Relaxed);
                let page = self
                    .client
                    .get_metric_data()
                    .start_time(DateTime::from(start))
                    .end_time(DateTime::from(end))
                    .scan_by(ScanBy::TimestampAscending)
                    .set_metric_data_queries(Some(batch.to_vec()))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| {
                        format!("GetMetricData: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(e))
                    })?;
                for r in page.metric_data_results() {
                    let Some(id) = r.id() else { continue };
                    let series = out.entry(id.to_owned()).or_default();
                    series
                        .points
                        .extend(r.timestamps().iter().map(|t| t.secs()).zip(r.values().iter().copied()));
                }
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        // Pages may split a series; the screen wants each oldest first, once per timestamp.
        for s in out.values_mut() {
            s.points.sort_by_key(|(t, _)| *t);
            s.points.dedup_by_key(|(t, _)| *t);
        }
        Ok(out)
    }

    /// The month's `AWS/Billing EstimatedCharges` in USD and its projection to the month's end,
    /// if billing alerts are on and readable.
    async fn billing_estimate(&self) -> Option<CostSummary> {
        let window = crate::cost::Window::new(None, OffsetDateTime::now_utc()).ok()?;
        let estimate = crate::cost::usage::billing_estimate(&self.billing, &window).await.ok().flatten()?;
        Some(CostSummary {
            month_to_date_usd: estimate,
            projected_usd: estimate / window.elapsed_fraction(),
            budget_usd: None,
            billing_estimate_usd: Some(estimate),
        })
    }
}

#[async_trait]
impl Source for CloudWatchSource {
    async fn fetch(&self, range: TimeRange) -> Result<Snapshot, String> {
        let end = SystemTime::now();
        let series = self.series(range, end).await?;
        let alarms = read_alarms(&self.client, &self.environment).await.map_err(|e| format!("{e:#}"))?;
        let cost = self.cost().await;
        Ok(Snapshot {
            range,
            fetched_at: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
            series,
            alarms,
            cost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_query_per_spec_metric_with_the_environment_filled_in() {
        let sdk =
            aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let spec = Spec::embedded().unwrap();
        let source = CloudWatchSource::new(&sdk, spec.clone(), "prod", Some("chat9".into()), true);
        let queries = source.queries(60);
        let ids: Vec<&str> = queries.iter().filter_map(|q| q.id()).collect();
        let expected: Vec<&str> = spec
            .metrics(true)
            .iter()
            .filter(|m| m.namespace != "AWS/Billing")
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(ids, expected);
        let values: Vec<&str> = queries
            .iter()
            .flat_map(|q| {
                q.metric_stat().and_then(|s| s.metric()).map(|m| m.dimensions()).unwrap_or_default()
            })
            .filter_map(|d| d.value())
            .collect();
        assert!(values.contains(&"chatbot-chat-prod") && values.contains(&"chat9"), "{values:?}");
        assert!(values.iter().all(|v| !v.contains("${")), "{values:?}");
        let requests = queries.iter().find(|q| q.id() == Some("api_count")).unwrap();
        let metric = requests.metric_stat().and_then(|s| s.metric()).unwrap();
        assert_eq!((metric.namespace(), metric.metric_name()), (Some("AWS/Lambda"), Some("UrlRequestCount")));
        let dims: Vec<_> = metric.dimensions().iter().map(|d| (d.name(), d.value())).collect();
        assert_eq!(dims, [(Some("FunctionName"), Some("chat9"))]);
        // Without the chat function's name, the API's metrics are left out rather than asked
        // with a placeholder.
        let no_api = CloudWatchSource::new(&sdk, spec, "prod", None, false).queries(60);
        assert!(no_api.iter().all(|q| !q.id().unwrap_or_default().starts_with("api_")));
    }
}
