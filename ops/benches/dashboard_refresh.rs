//! What one dashboard refresh costs: the AWS API calls it makes, and the time to draw one frame.
//!
//! Calls: the dashboard's own `CloudWatchSource`, with the cost feed `opsctl dashboard` adds,
//! refreshes six times against the emulator. GetMetricData calls come from the source's counter
//! (as `tests/dashboard_moto.rs` counts them); every other call is counted when
//! `BENCH_AWS_ENDPOINT` points at scripts/bench-tools/aws_proxy.py, whose `BENCH_COUNTS_URL`
//! says what passed through it. Without them the bench starts its own emulator and counts
//! GetMetricData only.
//!
//! Frames: `view::render_buffer` (ratatui's TestBackend, as `--once` and the snapshot tests
//! draw) of a full fixture, at 80x24 and 160x48.
//!
//! Prints `dashboard_refresh …` and `dashboard_render …` key=value lines.
//! Run: `cargo bench -p opsctl --bench dashboard_refresh`.

use test_support::moto;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic,
};
use opsctl::cli::{Env, Target};
use opsctl::dashboard::cloudwatch::CloudWatchSource;
use opsctl::dashboard::model::{AlarmRow, AlarmState, CostSummary, Series, Snapshot, Source, TimeRange};
use opsctl::dashboard::state::{Action, App};
use opsctl::dashboard::view::render_buffer;
use opsctl::dashboards::Spec;
use opsctl::deployed::Deployed;

const REFRESHES: usize = 6;
const RENDERS: usize = 2_000;
const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
type Counts = BTreeMap<String, u64>;

/// The emulator, or the counting proxy in front of it, and where the proxy's counts are.
fn endpoint() -> (String, Option<String>) {
    match std::env::var("BENCH_AWS_ENDPOINT") {
        Ok(url) => (url, std::env::var("BENCH_COUNTS_URL").ok()),
        Err(_) => (moto::Moto::shared().endpoint.clone(), None),
    }
}

async fn sdk(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await
}

async fn counts(url: &Option<String>) -> Fallible<Option<Counts>> {
    let Some(url) = url else { return Ok(None) };
    Ok(Some(reqwest::get(url).await?.error_for_status()?.json().await?))
}

/// Calls made between two readings of the proxy's counts, as `service.Operation:n,…`.
fn difference(before: &Counts, after: &Counts) -> (u64, String) {
    let calls: Vec<(String, u64)> = after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let total = calls.iter().map(|(_, n)| n).sum();
    let list = calls.iter().map(|(op, n)| format!("{op}:{n}")).collect::<Vec<_>>().join(",");
    (total, if list.is_empty() { "none".into() } else { list })
}

/// What a deployed stack with RAG on would give: the outputs the dashboard and cost read.
fn deployed(sdk: &SdkConfig) -> Deployed {
    let outputs = [
        ("ChatFunctionName", "chatbot-chat-dev"),
        ("TableName", "chatbot-conversations-dev"),
        ("DocumentsBucket", "chatbot-documents-dev"),
        ("KeyArn", "arn:aws:kms:us-east-1:123456789012:key/bench"),
    ];
    Deployed {
        env: Env::Dev,
        target: Target::Aws,
        sdk: sdk.clone(),
        outputs: outputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        parameters: BTreeMap::from([
            ("EnableRAG".to_owned(), "true".to_owned()),
            ("MonthlyBudgetUsd".to_owned(), "20".to_owned()),
        ]),
        rag: true,
        api_url: "http://127.0.0.1:9".into(),
    }
}

/// Some datapoints and two alarms, so that the refresh reads real answers, not empty ones.
async fn seed(sdk: &SdkConfig) -> Fallible<()> {
    let cw = aws_sdk_cloudwatch::Client::new(sdk);
    for (function, n) in
        [("chatbot-chat-dev", 7.0), ("chatbot-ingest-dev", 2.0), ("chatbot-retrieve-dev", 5.0)]
    {
        let datum = MetricDatum::builder()
            .metric_name("Invocations")
            .dimensions(Dimension::builder().name("FunctionName").value(function).build())
            .value(n)
            .unit(StandardUnit::Count)
            .timestamp(aws_smithy_types::DateTime::from(SystemTime::now()))
            .build();
        cw.put_metric_data().namespace("AWS/Lambda").metric_data(datum).send().await?;
    }
    for name in ["chatbot-dev-chat-errors", "chatbot-dev-chat-throttles"] {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await?;
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::Ok)
            .state_reason("quiet")
            .send()
            .await?;
    }
    Ok(())
}

async fn refreshes() -> Fallible<()> {
    let (endpoint, counts_url) = endpoint();
    let sdk = sdk(&endpoint).await;
    seed(&sdk).await?;
    let spec = Spec::embedded()?;
    let source = CloudWatchSource::new(&sdk, spec, "dev", Some("chatbot-chat-dev".into()), true)
        .with_cost(deployed(&sdk));
    for n in 1..=REFRESHES {
        let before = counts(&counts_url).await?;
        let metric_calls = source.metric_calls();
        let started = Instant::now();
        source.fetch(TimeRange::H1).await.map_err(|e| format!("refresh {n} failed: {e}"))?;
        let elapsed = started.elapsed();
        let after = counts(&counts_url).await?;
        let (api_calls, calls) = match (before, after) {
            (Some(b), Some(a)) => {
                let (total, list) = difference(&b, &a);
                (total.to_string(), list)
            }
            _ => ("n/a".into(), "n/a".into()),
        };
        println!(
            "dashboard_refresh n={n} get_metric_data={} api_calls={api_calls} calls={calls} ms={:.1}",
            source.metric_calls() - metric_calls,
            elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// A full screen's worth of data: every metric of the spec with an hour of points, every
/// alarm, and the cost panel.
fn fixture() -> Fallible<App> {
    let spec = Spec::embedded()?;
    let start = 1_777_636_800; // 2026-05-01T12:00:00Z
    let series = spec
        .metrics(true)
        .iter()
        .enumerate()
        .map(|(m, metric)| {
            let points =
                (0..60).map(|i| (start + i * 60, ((i * 7 + m as i64 * 3) % 11) as f64 * 10.0)).collect();
            (metric.id.clone(), Series { points })
        })
        .collect();
    let alarms = spec
        .panels
        .iter()
        .flat_map(|p| p.alarms.iter())
        .map(|a| AlarmRow {
            name: a.name.replace("${Environment}", "dev"),
            state: AlarmState::Ok,
            reason: String::new(),
            updated: Some("2026-05-01T11:40:00Z".into()),
        })
        .collect();
    let snapshot = Snapshot {
        range: TimeRange::H1,
        fetched_at: "2026-05-01T13:00:05Z".into(),
        series,
        alarms,
        cost: Some(CostSummary {
            month_to_date_usd: 12.34,
            projected_usd: 38.9,
            budget_usd: Some(50.0),
            billing_estimate_usd: None,
        }),
    };
    let mut app = App::new(spec, "dev", true, TimeRange::H1);
    app.update(Action::Fetched(Ok(snapshot)));
    Ok(app)
}

fn renders() -> Fallible<()> {
    let app = fixture()?;
    for (width, height) in SIZES {
        for _ in 0..RENDERS / 10 {
            std::hint::black_box(render_buffer(&app, width, height));
        }
        let mut times: Vec<Duration> = (0..RENDERS)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(render_buffer(&app, width, height));
                started.elapsed()
            })
            .collect();
        times.sort();
        let mean = times.iter().sum::<Duration>() / RENDERS as u32;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "dashboard_render width={width} height={height} renders={RENDERS} mean_us={:.1} p50_us={:.1} p99_us={:.1}",
            us(mean),
            us(times[RENDERS / 2]),
            us(times[RENDERS * 99 / 100])
        );
    }
    Ok(())
}

fn main() {
    let outcome = renders().and_then(|()| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(refreshes())
    });
    if let Err(e) = outcome {
        eprintln!("dashboard_refresh could not run: {e}");
        std::process::exit(1);
    }
}
