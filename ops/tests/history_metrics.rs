//! A garbage item in a conversation's partition on the emulator: the next turn, through the real
//! DynamoDB and KMS adapters, answers 200, and the local metrics publisher puts one skipped item
//! in the emulator's CloudWatch, under the name and dimensions the chat Lambda emits on AWS.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_dynamodb::types::AttributeValue;
use chatbot_core::auth::Authenticator;
use chatbot_core::aws::dynamodb::DynamoConversationStore;
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::fakes::ScriptedModel;
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use opsctl::local::metrics::LocalMetrics;
use support::Moto;
use test_support::tables;

async fn turn(app: &ChatApp, body: serde_json::Value) -> serde_json::Value {
    let req = ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        authorization: None,
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: body.to_string().into(),
        request_id: "history-metrics".into(),
    };
    let resp = route(app, &req).await;
    let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(resp.status(), 200, "{json}");
    json
}

#[tokio::test]
async fn a_skipped_history_item_reaches_the_emulators_cloudwatch() {
    let sdk = Moto::shared().sdk_config().await;
    let table = tables::create_table(&sdk).await;
    let key = tables::create_key(&sdk).await;
    // An environment of its own, so no other test's points share the metric.
    let environment = format!("skip{}", std::process::id());
    let metrics = LocalMetrics::new(&environment);
    let store = Arc::new(DynamoConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &table,
        Duration::from_secs(86_400),
    ));
    let app = ChatApp {
        store: store.clone(),
        idempotency: store,
        cipher: Arc::new(EnvelopeCipher::new(KmsDataKeys::new(aws_sdk_kms::Client::new(&sdk), &key, "dev"))),
        model: Arc::new(ScriptedModel::new("m")),
        retriever: None,
        metrics: metrics.clone(),
        auth: Authenticator::Disabled,
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    };
    let conv = turn(&app, serde_json::json!({"message": "hello"})).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(&table)
        .item("conversation_id", AttributeValue::S(conv.clone()))
        .item("timestamp", AttributeValue::S("2026-01-01T00:00:00.000000Z#junk".into()))
        .item("role", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();
    turn(&app, serde_json::json!({"conversation_id": conv, "message": "still there?"})).await;

    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    assert!(metrics.flush(&cw).await.unwrap() > 0);
    let now = DateTime::from(SystemTime::now()).secs();
    let dims = [("Environment", environment.as_str()), ("Function", "chat")]
        .map(|(n, v)| Dimension::builder().name(n).value(v).build());
    let query = MetricDataQuery::builder()
        .id("skipped")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("Chatbot")
                        .metric_name("HistoryItemsSkipped")
                        .set_dimensions(Some(dims.to_vec()))
                        .build(),
                )
                .period(3600)
                .stat("Sum")
                .build(),
        )
        .build();
    let data = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from_secs(now - 3600))
        .end_time(DateTime::from_secs(now + 60))
        .send()
        .await
        .unwrap();
    let sum: f64 = data.metric_data_results()[0].values().iter().sum();
    assert_eq!(sum, 1.0, "{data:?}");
}
