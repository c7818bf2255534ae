//! The dashboard's data and `opsctl alarms --check` against the emulator's CloudWatch: metrics put
//! for chat, ingest and retrieve come back in one GetMetricData call per refresh, and the alarm
//! check turns red when an alarm fires.

mod support;

use std::time::SystemTime;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic,
};
use opsctl::dashboard::cloudwatch::CloudWatchSource;
use opsctl::dashboard::model::{Source, TimeRange};
use opsctl::dashboards::Spec;
use support::{Moto, opsctl, text};

async fn put_invocations(cw: &aws_sdk_cloudwatch::Client, function: &str, count: f64) {
    put_lambda_metric(cw, "Invocations", function, count).await;
}

async fn put_lambda_metric(cw: &aws_sdk_cloudwatch::Client, name: &str, function: &str, count: f64) {
    let datum = MetricDatum::builder()
        .metric_name(name)
        .dimensions(Dimension::builder().name("FunctionName").value(function).build())
        .value(count)
        .unit(StandardUnit::Count)
        .timestamp(aws_smithy_types::DateTime::from(SystemTime::now()))
        .build();
    cw.put_metric_data().namespace("AWS/Lambda").metric_data(datum).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_refresh_is_one_get_metric_data_call_with_every_function() {
    let sdk = Moto::shared().sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    for (function, n) in
        [("chatbot-chat-dev", 7.0), ("chatbot-ingest-dev", 2.0), ("chatbot-retrieve-dev", 5.0)]
    {
        put_invocations(&cw, function, n).await;
    }
    let source =
        CloudWatchSource::new(&sdk, Spec::embedded().unwrap(), "dev", Some("chatbot-chat-dev".into()), true);
    let snapshot = source.fetch(TimeRange::H1).await.unwrap();
    assert_eq!(source.metric_calls(), 1, "one GetMetricData call for every metric panel");
    for (id, n) in [("chat_invocations", 7.0), ("ingest_invocations", 2.0), ("retrieve_invocations", 5.0)] {
        let total: f64 = snapshot.series[id].points.iter().map(|(_, v)| v).sum();
        assert_eq!(total, n, "{id}: {:?}", snapshot.series[id]);
    }
    source.fetch(TimeRange::H24).await.unwrap();
    assert_eq!(source.metric_calls(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_check_is_green_then_red_when_an_alarm_fires() {
    let sdk = Moto::shared().sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    for name in ["chatbot-staging-chat-throttles", "chatbot-staging-model-latency"] {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/Lambda")
            .metric_name("Throttles")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .unwrap();
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::Ok)
            .state_reason("quiet")
            .send()
            .await
            .unwrap();
    }
    let green = tokio::task::spawn_blocking(|| opsctl(None, &["--env", "staging", "alarms", "--check"]))
        .await
        .unwrap();
    assert_eq!(green.status.code(), Some(0), "{}{}", text(&green.stdout), text(&green.stderr));
    assert!(text(&green.stdout).contains("alarms staging: 0 ALARM, 2 OK"), "{}", text(&green.stdout));

    cw.set_alarm_state()
        .alarm_name("chatbot-staging-model-latency")
        .state_value(StateValue::Alarm)
        .state_reason("p99 above 20 s")
        .send()
        .await
        .unwrap();
    let red = tokio::task::spawn_blocking(|| opsctl(None, &["--env", "staging", "alarms", "--check"]))
        .await
        .unwrap();
    assert_eq!(red.status.code(), Some(1));
    let stdout = text(&red.stdout);
    assert!(
        stdout.contains("1 ALARM (chatbot-staging-model-latency)") && stdout.contains("p99 above 20 s"),
        "{stdout}"
    );

    // An unreachable CloudWatch is a fetch error: exit 2.
    let unreachable = tokio::task::spawn_blocking(|| {
        opsctl(None, &["--env", "staging", "--endpoint-url", "http://127.0.0.1:9", "alarms", "--check"])
    })
    .await
    .unwrap();
    assert_eq!(unreachable.status.code(), Some(2), "{}", text(&unreachable.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_once_shows_every_functions_invocations() {
    let sdk = Moto::shared().sdk_config().await;
    let stack = r#"{"Parameters": {"EnableRAG": {"Type": "String", "Default": "true"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": "http://127.0.0.1:9"},
                    "ChatFunctionName": {"Value": "chatbot-chat-prod"}}}"#;
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name("chatbot-prod")
        .template_body(stack)
        .send()
        .await
        .unwrap();
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    for (function, n) in
        [("chatbot-chat-prod", 3.0), ("chatbot-ingest-prod", 4.0), ("chatbot-retrieve-prod", 6.0)]
    {
        put_invocations(&cw, function, n).await;
    }
    // The API's requests are its function URL's, counted on the chat function.
    put_lambda_metric(&cw, "UrlRequestCount", "chatbot-chat-prod", 3.0).await;
    put_lambda_metric(&cw, "Url4xxCount", "chatbot-chat-prod", 1.0).await;
    let json = tokio::task::spawn_blocking(|| {
        opsctl(None, &["--env", "prod", "dashboard", "--once", "--output", "json"])
    })
    .await
    .unwrap();
    assert!(json.status.success(), "{}", text(&json.stderr));
    let snapshot: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for (id, n) in [
        ("chat_invocations", 3.0),
        ("ingest_invocations", 4.0),
        ("retrieve_invocations", 6.0),
        ("api_count", 3.0),
        ("api_4xx", 1.0),
    ] {
        let total: f64 =
            snapshot["series"][id]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).sum();
        assert_eq!(total, n, "{id}");
    }
    let screen = tokio::task::spawn_blocking(|| opsctl(None, &["--env", "prod", "dashboard", "--once"]))
        .await
        .unwrap();
    assert!(screen.status.success(), "{}", text(&screen.stderr));
    let screen = text(&screen.stdout);
    assert!(screen.contains("invocations 3") && screen.contains("env prod"), "{screen}");
}
