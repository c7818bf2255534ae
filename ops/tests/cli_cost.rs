//! `opsctl cost` against the emulator: a root stack with the outputs cost reads, a month of
//! chat-model tokens in CloudWatch, and the budget check's exit status both ways.

mod support;

use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde_json::Value;
use support::{Moto, opsctl, text};

/// What `cost` reads: EnableRAG, the chat function (whose URL is the API), the table, the bucket,
/// and the key (for the account).
const STACK: &str = r#"{
  "Parameters": {
    "EnableRAG": {"Type": "String", "Default": "false"},
    "Architecture": {"Type": "String", "Default": "arm64"},
    "ChatModelId": {"Type": "String", "Default": "us.anthropic.claude-sonnet-4-6"}
  },
  "Resources": {"Docs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "cost-test-docs"}}},
  "Outputs": {
    "ApiUrl": {"Value": "http://127.0.0.1:9"},
    "TableName": {"Value": "chatbot-conversations-prod"},
    "DocumentsBucket": {"Value": {"Ref": "Docs"}},
    "ChatFunctionName": {"Value": "chatbot-chat-prod"},
    "KeyArn": {"Value": "arn:aws:kms:us-east-1:123456789012:key/0000"}
  }
}"#;

fn datum(name: &str, dims: &[(&str, &str)], value: f64, unit: StandardUnit) -> MetricDatum {
    let at = DateTime::from(SystemTime::now()).secs() - 60;
    MetricDatum::builder()
        .metric_name(name)
        .set_dimensions(Some(
            dims.iter().map(|(k, v)| Dimension::builder().name(*k).value(*v).build()).collect(),
        ))
        .timestamp(DateTime::from_secs(at))
        .value(value)
        .unit(unit)
        .build()
}

#[test]
fn cost_checks_the_projection_against_the_budget() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sdk = Moto::shared().sdk_config().await;
        aws_sdk_cloudformation::Client::new(&sdk)
            .create_stack()
            .stack_name("chatbot-prod")
            .template_body(STACK)
            .send()
            .await
            .unwrap();
        let cw = aws_sdk_cloudwatch::Client::new(&sdk);
        let chat = [("Environment", "prod"), ("Function", "chat")];
        // 1,000 chats of 2,000 input and 300 output tokens: $6.00 + $4.50 so far.
        cw.put_metric_data()
            .namespace("Chatbot")
            .metric_data(datum("InputTokens", &chat, 2_000_000.0, StandardUnit::Count))
            .metric_data(datum("OutputTokens", &chat, 300_000.0, StandardUnit::Count))
            .metric_data(datum("KmsRequests", &chat, 40.0, StandardUnit::Count))
            .send()
            .await
            .unwrap();
        let lambda = [("FunctionName", "chatbot-chat-prod")];
        cw.put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(datum("Invocations", &lambda, 1_000.0, StandardUnit::Count))
            .metric_data(datum("Duration", &lambda, 2_000_000.0, StandardUnit::Milliseconds))
            .metric_data(datum("UrlRequestCount", &lambda, 1_000.0, StandardUnit::Count))
            .send()
            .await
            .unwrap();
    });

    let over = opsctl(None, &["--env", "prod", "cost", "--check", "--budget", "1"]);
    let stdout = text(&over.stdout);
    println!("{stdout}");
    assert_eq!(over.status.code(), Some(1), "{stdout}\n{}", text(&over.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("cost prod: projected $") && last.ends_with("of $1.00 budget (over budget)"),
        "{stdout}"
    );
    assert!(stdout.contains("Receive Billing Alerts"), "billing alerts are off in the emulator:\n{stdout}");

    let within = opsctl(None, &["--env", "prod", "cost", "--check", "--budget", "10000"]);
    assert_eq!(within.status.code(), Some(0), "{}\n{}", text(&within.stdout), text(&within.stderr));
    assert!(text(&within.stdout).trim_end().ends_with("of $10000.00 budget (ok)"));

    let json = opsctl(None, &["--env", "prod", "cost", "--output", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["environment"], "prod");
    assert_eq!(report["metric_calls"], 1, "every usage metric in one GetMetricData call");
    let lines = report["lines"].as_array().unwrap();
    let line = |prefix: &str| {
        lines
            .iter()
            .find(|l| l["service"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("{report}"))
    };
    assert_eq!(line("Bedrock us.anthropic.claude-sonnet-4-6")["month_to_date_usd"], 10.5);
    // 2,000 s × 0.5 GB = 1,000 GB-s × $0.0000133334 + 1,000 × $0.20/M.
    assert_eq!(line("Lambda chatbot-chat-prod")["month_to_date_usd"], 0.013533);
    assert_eq!(line("KMS requests")["usage"], "40 requests");
    // The function URL's requests are counted but cost nothing beyond the chat invocations.
    let api = line("Lambda function URL");
    assert_eq!((&api["usage"], &api["projected_usd"]), (&Value::from("1,000 requests"), &Value::from(0.0)));
    assert!(line("KMS key")["projected_usd"] == 1.0);
    assert!(report["projected_usd"].as_f64().unwrap() > 10.5);
    assert!(report["billing_estimate_usd"].is_null());

    let no_budget = opsctl(None, &["--env", "prod", "cost", "--check"]);
    assert_eq!(no_budget.status.code(), Some(2));
    assert!(text(&no_budget.stderr).contains("--budget"), "{}", text(&no_budget.stderr));

    // No stack: the cost cannot be computed, which CI must not read as "over budget".
    let missing = opsctl(None, &["--env", "staging", "cost", "--check", "--budget", "5"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("not deployed"), "{}", text(&missing.stderr));
}
