//! The DynamoDB adapter's `append` against `aws-smithy-mocks`: a write the SDK retries after its
//! first attempt landed finds its own item and succeeds; another message at the key is refused.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use chatbot_core::aws::dynamodb::DynamoConversationStore;
use chatbot_core::domain::message::{ConversationId, Role, SealedMessage, SortKey};
use chatbot_core::ports::{ConversationStore, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |c| c.retry_config(
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
    ))
}

fn json_response(status: u16, error_type: &str, body: String) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    r.headers_mut().insert("x-amzn-errortype", error_type.to_owned());
    r.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    r
}

/// What DynamoDB answers when the first attempt's response was lost: a 500 the SDK retries.
fn lost_response() -> HttpResponse {
    json_response(
        500,
        "InternalServerError",
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}"#.into(),
    )
}

/// The retry's condition fails on the item already there, returned because the adapter asks
/// for it (`ReturnValuesOnConditionCheckFailure: ALL_OLD`).
fn condition_failed_on(message_id: Uuid) -> HttpResponse {
    json_response(
        400,
        "ConditionalCheckFailedException",
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{{"message_id":{{"S":"{message_id}"}}}}}}"#
        ),
    )
}

fn message() -> SealedMessage {
    let id = Uuid::new_v4();
    SealedMessage {
        conversation_id: ConversationId::new(),
        message_id: id,
        sort_key: SortKey::new(OffsetDateTime::now_utc(), id),
        role: Role::User,
        content: vec![2; 40],
        wrapped_key: vec![1; 8],
        model: None,
        usage: None,
        status: None,
        citations: None,
    }
}

fn store(client: Client) -> DynamoConversationStore {
    DynamoConversationStore::new(client, "conversations", Duration::from_secs(86_400))
}

#[tokio::test]
async fn a_retried_put_that_finds_its_own_message_is_success() {
    let m = message();
    let id = m.message_id;
    let asked_for_the_old_item = mock!(Client::put_item)
        .match_requests(|req| {
            req.return_values_on_condition_check_failure().map(|v| v.as_str()) == Some("ALL_OLD")
        })
        .sequence()
        .http_response(lost_response)
        .http_response(move || condition_failed_on(id))
        .build();
    store(client(&[&asked_for_the_old_item])).append(&m).await.expect("the message is stored");
    assert_eq!(asked_for_the_old_item.num_calls(), 2, "the SDK retried once");
}

#[tokio::test]
async fn another_message_at_the_key_stays_an_error() {
    let m = message();
    let rule =
        mock!(Client::put_item).sequence().http_response(|| condition_failed_on(Uuid::new_v4())).build();
    let err = store(client(&[&rule])).append(&m).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(err.to_string().contains(m.sort_key.as_str()), "{err}");
}
