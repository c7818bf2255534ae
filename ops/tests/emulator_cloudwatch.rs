//! The CloudWatch SDK against the emulator. The SDK speaks Smithy RPC v2 CBOR, which moto 5.2.5
//! does not; `scripts/emulator/cloudwatch_cbor.py` translates it to moto's JSON protocol and back.
//! These tests prove the translation end to end: requests with timestamps and dimensions arrive,
//! responses decode with their timestamps and doubles, and errors surface as service errors.

mod support;

use std::time::SystemTime;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::operation::get_dashboard::GetDashboardError;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit, Statistic,
};
use support::Moto;

async fn client() -> Client {
    Client::new(&Moto::shared().sdk_config().await)
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// Whole seconds: moto keeps what it is sent, and a round number makes the window checks exact.
fn now_secs() -> i64 {
    DateTime::from(SystemTime::now()).secs()
}

#[tokio::test]
async fn metrics_round_trip_through_cbor() {
    let cw = client().await;
    let ns = "Opsctl/EmulatorTest";
    let dims = [dimension("Function", "chat"), dimension("Stage", "test")];
    let at = now_secs() - 30;

    cw.put_metric_data()
        .namespace(ns)
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .set_dimensions(Some(dims.to_vec()))
                .timestamp(DateTime::from_secs(at))
                .value(42.5)
                .unit(StandardUnit::Milliseconds)
                .build(),
        )
        .send()
        .await
        .expect("put_metric_data");

    let listed = cw.list_metrics().namespace(ns).send().await.expect("list_metrics");
    let metric = listed
        .metrics()
        .iter()
        .find(|m| m.metric_name() == Some("Latency"))
        .unwrap_or_else(|| panic!("Latency not listed: {listed:?}"));
    let mut names: Vec<_> = metric.dimensions().iter().filter_map(|d| d.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Function", "Stage"]);

    let query = MetricDataQuery::builder()
        .id("latency")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(ns)
                        .metric_name("Latency")
                        .set_dimensions(Some(dims.to_vec()))
                        .build(),
                )
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build();
    let data = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from_secs(at - 300))
        .end_time(DateTime::from_secs(at + 300))
        .send()
        .await
        .expect("get_metric_data");
    let result = &data.metric_data_results()[0];
    assert_eq!(result.id(), Some("latency"));
    assert_eq!(result.values(), [42.5]);
    let stamps = result.timestamps();
    assert_eq!(stamps.len(), 1, "{result:?}");
    // A timestamp that decoded into the window: tag 1 arrived as epoch seconds, not as text.
    assert!((at - 300..=at + 300).contains(&stamps[0].secs()), "{stamps:?} outside the window of {at}");

    let before = now_secs() - 5;
    cw.put_metric_alarm()
        .alarm_name("opsctl-emulator-latency")
        .namespace(ns)
        .metric_name("Latency")
        .set_dimensions(Some(dims.to_vec()))
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(1000.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("put_metric_alarm");
    let alarms =
        cw.describe_alarms().alarm_names("opsctl-emulator-latency").send().await.expect("describe_alarms");
    let alarm = alarms.metric_alarms().first().unwrap_or_else(|| panic!("no alarm: {alarms:?}"));
    assert_eq!(alarm.threshold(), Some(1000.0));
    assert_eq!(alarm.comparison_operator(), Some(&ComparisonOperator::GreaterThanThreshold));
    let updated = alarm.state_updated_timestamp().expect("StateUpdatedTimestamp").secs();
    assert!((before..=now_secs() + 5).contains(&updated), "StateUpdatedTimestamp {updated} is not now");
}

#[tokio::test]
async fn missing_dashboard_is_a_service_error() {
    let cw = client().await;

    let err = cw.get_dashboard().dashboard_name("opsctl-no-such-dashboard").send().await.expect_err("absent");
    let service = err.as_service_error().unwrap_or_else(|| panic!("not a service error: {err:?}"));
    assert!(matches!(service, GetDashboardError::DashboardNotFoundError(_)), "{service:?}");
    assert!(service.message().is_some_and(|m| !m.is_empty()), "{service:?}");

    // moto's code for this one is not in DeleteDashboards' model: it arrives unmodelled, but as
    // a service error with its code, which is what the CLI reports.
    let err =
        cw.delete_dashboards().dashboard_names("opsctl-no-such-dashboard").send().await.expect_err("absent");
    let service = err.as_service_error().unwrap_or_else(|| panic!("not a service error: {err:?}"));
    assert_eq!(service.code(), Some("ResourceNotFound"), "{service:?}");
}

/// Above its compression threshold the SDK gzips PutMetricData bodies; the shim inflates them.
#[tokio::test]
async fn gzipped_put_metric_data_is_accepted() {
    let conf = aws_sdk_cloudwatch::config::Builder::from(&Moto::shared().sdk_config().await)
        .request_min_compression_size_bytes(0)
        .build();
    let cw = Client::from_conf(conf);
    let ns = "Opsctl/EmulatorGzip";
    let at = now_secs() - 30;

    let datums = (0..20).map(|i| {
        MetricDatum::builder()
            .metric_name("Count")
            .dimensions(dimension("Shard", &i.to_string()))
            .timestamp(DateTime::from_secs(at))
            .value(1.0)
            .build()
    });
    cw.put_metric_data()
        .namespace(ns)
        .set_metric_data(Some(datums.collect()))
        .send()
        .await
        .expect("gzipped put_metric_data");

    let listed = cw.list_metrics().namespace(ns).send().await.expect("list_metrics");
    assert_eq!(listed.metrics().len(), 20, "{listed:?}");
}
