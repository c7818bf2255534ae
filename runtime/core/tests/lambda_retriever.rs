//! The chat Lambda's retriever against `aws-smithy-mocks`: the invoke payload, the answer, a
//! function error and throttling.

use std::sync::{Arc, Mutex};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chatbot_core::aws::retriever::LambdaRetriever;
use chatbot_core::domain::api::RetrieveRequest;
use chatbot_core::ports::{RagError, Retriever};

/// The function name and payload of the invoke the mock saw.
type Seen = Arc<Mutex<Option<(String, Vec<u8>)>>>;

#[tokio::test]
async fn sends_query_and_k_and_reads_the_chunks() {
    let seen: Seen = Arc::default();
    let capture = seen.clone();
    let rule = mock!(Client::invoke)
        .match_requests(move |req| {
            let payload = req.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
            *capture.lock().unwrap() = Some((req.function_name().unwrap_or_default().to_owned(), payload));
            true
        })
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(
                    br#"{"chunks":[{"source":"docs/cv.md","chunk":2,"score":0.81,"text":"Rust, Go"}]}"#
                        .to_vec(),
                ))
                .build()
        });
    let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&rule]);
    let chunks =
        LambdaRetriever::new(client, "chatbot-retrieve-dev").retrieve("languages?", 3).await.unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        (chunks[0].source.as_str(), chunks[0].chunk, chunks[0].text.as_str()),
        ("docs/cv.md", 2, "Rust, Go")
    );

    let (function, payload) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(function, "chatbot-retrieve-dev");
    let req: RetrieveRequest = serde_json::from_slice(&payload).unwrap();
    assert_eq!(req, RetrieveRequest { query: "languages?".into(), k: 3 });
}

#[tokio::test]
async fn a_function_error_or_bad_answer_is_a_failure_not_a_panic() {
    let rule = mock!(Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(br#"{"errorType":"Timeout","errorMessage":"opensearch timed out"}"#.to_vec()))
            .build()
    });
    let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&rule]);
    let err = LambdaRetriever::new(client, "r").retrieve("q", 5).await.unwrap_err();
    assert!(
        matches!(&err, RagError::Failed(m) if m.contains("Unhandled") && m.contains("opensearch timed out")),
        "{err}"
    );

    let rule = mock!(Client::invoke)
        .then_output(|| InvokeOutput::builder().status_code(200).payload(Blob::new(b"[]".to_vec())).build());
    let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&rule]);
    assert!(matches!(LambdaRetriever::new(client, "r").retrieve("q", 5).await, Err(RagError::Failed(_))));
}

#[tokio::test]
async fn throttling_is_reported_as_such() {
    let rule = mock!(Client::invoke).then_error(|| {
        aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(
            aws_sdk_lambda::types::error::TooManyRequestsException::builder()
                .message("Rate exceeded")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&rule], |c| c
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled()));
    assert!(matches!(LambdaRetriever::new(client, "r").retrieve("q", 5).await, Err(RagError::Throttled(_))));
}
