//! The doctor's checks against `aws-smithy-mocks`, with AWS's error shapes on the wire: expired
//! credentials, a model without access or needing an inference profile, throttling, a quota of
//! 0, a quota that cannot be read or is listed only among the defaults, and Lambda reservations.

use std::sync::{Arc, Mutex};

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::operation::converse::{ConverseInput, ConverseOutput};
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput as Output, Message, StopReason, TokenUsage,
};
use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsOutput;
use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
use aws_sdk_lambda::types::AccountLimit;
use aws_sdk_servicequotas::operation::list_aws_default_service_quotas::ListAwsDefaultServiceQuotasOutput;
use aws_sdk_servicequotas::operation::list_service_quotas::ListServiceQuotasOutput;
use aws_sdk_servicequotas::types::ServiceQuota;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use opsctl::doctor::{Outcome, bedrock, identity, quotas};

const MODEL: &str = "us.anthropic.claude-sonnet-4-6";
const TITAN: &str = "amazon.titan-embed-text-v2:0";

/// A restJson1 / awsJson error as Bedrock, Lambda and Service Quotas send it.
fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"__type":"{code}","message":"{message}"}}"#)),
    );
    r.headers_mut().insert("x-amzn-errortype", format!("{code}:http://internal.amazon.com/coral/"));
    r.headers_mut().insert("content-type", "application/json");
    r
}

fn bedrock(rules: &[&Rule]) -> aws_sdk_bedrockruntime::Client {
    // One attempt: a throttled probe must not wait out the SDK's backoff here.
    mock_client!(aws_sdk_bedrockruntime, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::standard().with_max_attempts(1)))
}

fn reply() -> ConverseOutput {
    let message = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text("p".into()))
        .build()
        .unwrap();
    ConverseOutput::builder()
        .output(Output::Message(message))
        .stop_reason(StopReason::MaxTokens)
        .usage(TokenUsage::builder().input_tokens(8).output_tokens(1).total_tokens(9).build().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn expired_credentials_fail_with_the_refresh_hint() {
    let rule = mock!(aws_sdk_sts::Client::get_caller_identity).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(403).unwrap(),
            SdkBody::from(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message>\
                 </Error><RequestId>r</RequestId></ErrorResponse>",
            ),
        )
    });
    let sts = mock_client!(aws_sdk_sts, [&rule]);
    let check = identity::credentials(&sts).await;
    assert_eq!(check.outcome, Outcome::Fail, "{check:?}");
    assert!(check.detail.contains("ExpiredToken"), "{check:?}");
    assert!(check.hint.unwrap().contains("refresh them"));
}

#[tokio::test]
async fn the_chat_probe_is_one_word_for_one_token() {
    let seen: Arc<Mutex<Option<ConverseInput>>> = Arc::default();
    let capture = seen.clone();
    let rule = mock!(aws_sdk_bedrockruntime::Client::converse)
        .match_requests(move |req| {
            *capture.lock().unwrap() = Some(req.clone());
            true
        })
        .then_output(reply);
    let check = bedrock::chat_model(&bedrock(&[&rule]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Pass, "{check:?}");
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.model_id(), Some(MODEL));
    assert_eq!(req.inference_config().and_then(|c| c.max_tokens()), Some(1));
    let [message] = req.messages() else { panic!("one message: {req:?}") };
    assert_eq!(message.role(), &ConversationRole::User);
    let [ContentBlock::Text(text)] = message.content() else { panic!("{message:?}") };
    assert_eq!(text.split_whitespace().count(), 1, "{text}");
}

#[tokio::test]
async fn a_model_without_access_fails_with_the_console_hint() {
    let rule = mock!(aws_sdk_bedrockruntime::Client::converse).then_http_response(|| {
        json_error(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        )
    });
    let check = bedrock::chat_model(&bedrock(&[&rule]), MODEL, "eu-west-1").await;
    assert_eq!(check.outcome, Outcome::Fail, "{check:?}");
    assert!(check.detail.contains("AccessDeniedException"), "{check:?}");
    let hint = check.hint.unwrap();
    assert!(hint.contains("enable access") && hint.contains("Bedrock console of eu-west-1"), "{hint}");
}

#[tokio::test]
async fn an_identity_without_permission_is_told_which_one() {
    let rule = mock!(aws_sdk_bedrockruntime::Client::converse).then_http_response(|| {
        json_error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:InvokeModel on resource: y",
        )
    });
    let check = bedrock::chat_model(&bedrock(&[&rule]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Fail);
    assert!(check.hint.unwrap().contains("allow your identity bedrock:InvokeModel"));
}

#[tokio::test]
async fn a_foundation_model_id_is_told_to_use_an_inference_profile() {
    let rule = mock!(aws_sdk_bedrockruntime::Client::converse).then_http_response(|| {
        json_error(
            400,
            "ValidationException",
            "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
        )
    });
    let check = bedrock::chat_model(&bedrock(&[&rule]), "anthropic.claude-sonnet-4-6", "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Fail);
    let hint = check.hint.unwrap();
    assert!(
        hint.contains("--param ChatModelId=us.anthropic.claude-sonnet-4-6") && hint.contains("eu."),
        "{hint}"
    );
}

#[tokio::test]
async fn an_unknown_model_id_is_told_about_geography_prefixes() {
    let rule = mock!(aws_sdk_bedrockruntime::Client::converse).then_http_response(|| {
        json_error(400, "ValidationException", "The provided model identifier is invalid.")
    });
    let check = bedrock::chat_model(&bedrock(&[&rule]), MODEL, "eu-west-1").await;
    assert_eq!(check.outcome, Outcome::Fail);
    let hint = check.hint.unwrap();
    assert!(
        hint.contains("offered in eu-west-1") && hint.contains("eu.anthropic.claude-sonnet-4-6"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_throttled_probe_warns_instead_of_failing() {
    let rule = mock!(aws_sdk_bedrockruntime::Client::converse).then_http_response(|| {
        json_error(429, "ThrottlingException", "Too many tokens, please wait before trying again.")
    });
    let check = bedrock::chat_model(&bedrock(&[&rule]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Warn, "{check:?}");
    assert!(check.detail.contains("access not confirmed"));
    assert!(check.hint.unwrap().contains("model-quota"));
}

#[tokio::test]
async fn the_embedding_probe_checks_the_configured_dimensions() {
    let seen: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
    let capture = seen.clone();
    let rule = mock!(aws_sdk_bedrockruntime::Client::invoke_model).then_compute_output(move |req| {
        let body: serde_json::Value = serde_json::from_slice(req.body().unwrap().as_ref()).unwrap();
        *capture.lock().unwrap() = Some(body);
        let embedding = vec![0.5f32; 1024]; // whatever was asked, a 1024-wide vector
        InvokeModelOutput::builder()
            .body(Blob::new(serde_json::json!({"embedding": embedding}).to_string()))
            .content_type("application/json")
            .build()
            .unwrap()
    });
    let client = bedrock(&[&rule]);
    let ok = bedrock::embedding_model(&client, TITAN, "1024", "us-east-1").await;
    assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");
    let wrong = bedrock::embedding_model(&client, TITAN, "256", "us-east-1").await;
    assert_eq!(wrong.outcome, Outcome::Fail, "{wrong:?}");
    assert!(wrong.detail.contains("returned 1024 dimensions, the stack expects 256"), "{wrong:?}");
    assert_eq!(seen.lock().unwrap().as_ref().unwrap()["dimensions"], 256);
}

fn service_quotas(rules: &[&Rule]) -> aws_sdk_servicequotas::Client {
    mock_client!(aws_sdk_servicequotas, RuleMode::MatchAny, rules)
}

fn quota(name: &str, code: &str, value: f64) -> ServiceQuota {
    ServiceQuota::builder().quota_name(name).quota_code(code).value(value).build()
}

fn applied(quotas: Vec<ServiceQuota>) -> Rule {
    mock!(aws_sdk_servicequotas::Client::list_service_quotas)
        .then_output(move || ListServiceQuotasOutput::builder().set_quotas(Some(quotas.clone())).build())
}

#[tokio::test]
async fn a_quota_of_zero_fails_with_its_code() {
    let rule = applied(vec![
        quota("On-demand InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", "L-1", 50_000.0),
        quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", "L-2", 0.0),
    ]);
    let check = quotas::model_quota(&service_quotas(&[&rule]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Fail, "{check:?}");
    assert!(
        check.detail.contains("Cross-Region InvokeModel tokens per minute") && check.detail.contains("is 0")
    );
    assert!(check.hint.unwrap().contains("quota L-2 in the Service Quotas console of us-east-1"));
}

#[tokio::test]
async fn a_quota_above_zero_passes_with_its_value() {
    let rule = applied(vec![quota(
        "Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4.6",
        "L-3",
        200_000.0,
    )]);
    let check = quotas::model_quota(&service_quotas(&[&rule]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Pass, "{check:?}");
    assert!(check.detail.ends_with(": 200000"), "{check:?}");
}

#[tokio::test]
async fn an_unreadable_quota_warns() {
    let rule = mock!(aws_sdk_servicequotas::Client::list_service_quotas).then_http_response(|| {
        json_error(400, "AccessDeniedException", "You do not have sufficient access to perform this action.")
    });
    let check = quotas::model_quota(&service_quotas(&[&rule]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Warn, "{check:?}");
    assert!(
        check.detail.contains("could not read Bedrock's quotas") && check.detail.contains("AccessDenied")
    );
    assert!(check.hint.unwrap().contains("servicequotas:ListServiceQuotas"));
}

#[tokio::test]
async fn a_quota_listed_only_among_the_defaults_is_read_there() {
    let none_applied = applied(Vec::new());
    let defaults = mock!(aws_sdk_servicequotas::Client::list_aws_default_service_quotas).then_output(|| {
        ListAwsDefaultServiceQuotasOutput::builder()
            .quotas(quota(
                "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6",
                "L-4",
                0.0,
            ))
            .build()
    });
    let check = quotas::model_quota(&service_quotas(&[&none_applied, &defaults]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Fail, "{check:?}");
    assert!(check.hint.unwrap().contains("L-4"));

    let nowhere = mock!(aws_sdk_servicequotas::Client::list_aws_default_service_quotas)
        .then_output(|| ListAwsDefaultServiceQuotasOutput::builder().build());
    let check = quotas::model_quota(&service_quotas(&[&none_applied, &nowhere]), MODEL, "us-east-1").await;
    assert_eq!(check.outcome, Outcome::Warn, "{check:?}");
    assert!(check.detail.contains("lists no cross-Region tokens-per-minute quota"), "{check:?}");
}

fn lambda(limit: i32, unreserved: i32, chat_holds: Option<i32>) -> aws_sdk_lambda::Client {
    let settings = mock!(aws_sdk_lambda::Client::get_account_settings).then_output(move || {
        GetAccountSettingsOutput::builder()
            .account_limit(
                AccountLimit::builder()
                    .concurrent_executions(limit)
                    .unreserved_concurrent_executions(unreserved)
                    .build(),
            )
            .build()
    });
    let held = mock!(aws_sdk_lambda::Client::get_function_concurrency).then_output(move || {
        GetFunctionConcurrencyOutput::builder().set_reserved_concurrent_executions(chat_holds).build()
    });
    mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&settings, &held])
}

#[tokio::test]
async fn a_reservation_must_leave_100_unreserved() {
    let new_account = lambda(10, 10, None);
    let none = quotas::lambda_concurrency(&new_account, "chatbot-chat-dev", "0", None).await;
    assert_eq!(none.outcome, Outcome::Pass, "no reservation fits any account: {none:?}");
    let some = quotas::lambda_concurrency(&new_account, "chatbot-chat-dev", "5", None).await;
    assert_eq!(some.outcome, Outcome::Fail, "{some:?}");
    assert!(some.detail.contains("would leave 5 of 10"), "{some:?}");
    assert!(some.hint.unwrap().contains("lower ChatReservedConcurrency"));

    // With RAG, ingestion reserves 1: a new account of 10 cannot, and is told how to opt out.
    let rag =
        quotas::lambda_concurrency(&new_account, "chatbot-chat-dev", "0", Some("chatbot-ingest-dev")).await;
    assert_eq!(rag.outcome, Outcome::Fail, "{rag:?}");
    assert!(rag.detail.contains("reserving 1 for ingestion would leave 9 of 10"), "{rag:?}");
    assert!(rag.hint.unwrap().contains("SerializeIngestion=false"));

    // 1000 in all, 880 unreserved of which the chat function holds 20 already: 50 leaves 850.
    let established = lambda(1000, 880, Some(20));
    let ok = quotas::lambda_concurrency(&established, "chatbot-chat-dev", "50", None).await;
    assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");
    assert!(ok.detail.contains("leaves 850 unreserved"), "{ok:?}");
    let too_much = quotas::lambda_concurrency(&established, "chatbot-chat-dev", "850", None).await;
    assert_eq!(too_much.outcome, Outcome::Fail, "{too_much:?}");
    let both =
        quotas::lambda_concurrency(&established, "chatbot-chat-dev", "50", Some("chatbot-ingest-dev")).await;
    assert_eq!(both.outcome, Outcome::Pass, "{both:?}");
    // The mock says every function holds 20 already: 880 + 40 - 51 = 869.
    assert!(
        both.detail.contains("reserving 50 for chat and 1 for ingestion leaves 869 unreserved"),
        "{both:?}"
    );
}

#[tokio::test]
async fn unreadable_lambda_settings_warn() {
    let denied = mock!(aws_sdk_lambda::Client::get_account_settings).then_http_response(|| {
        json_error(
            403,
            "AccessDeniedException",
            "User is not authorized to perform: lambda:GetAccountSettings",
        )
    });
    let client = mock_client!(aws_sdk_lambda, [&denied]);
    let check = quotas::lambda_concurrency(&client, "chatbot-chat-dev", "0", None).await;
    assert_eq!(check.outcome, Outcome::Warn, "{check:?}");
    assert!(check.hint.unwrap().contains("lambda:GetAccountSettings"));
}
