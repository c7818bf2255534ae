//! Titan Text Embeddings v2 against `aws-smithy-mocks`: request and response shape, order under
//! concurrency, and throttling that clears after the SDK's retry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use chatbot_core::aws::titan::TitanEmbedder;
use chatbot_core::ports::{Embedder, RagError};

fn client(rules: &[&aws_smithy_mocks::Rule]) -> Client {
    mock_client!(aws_sdk_bedrockruntime, RuleMode::MatchAny, rules, |c| c.retry_config(
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
    ))
}

/// Answers each text with a vector whose first value is the text's length.
fn echo_length(dims: usize) -> aws_smithy_mocks::Rule {
    mock!(Client::invoke_model).then_compute_output(move |req| {
        let body: serde_json::Value = serde_json::from_slice(req.body().unwrap().as_ref()).unwrap();
        let mut v = vec![0.0f32; dims];
        v[0] = body["inputText"].as_str().unwrap().len() as f32;
        InvokeModelOutput::builder()
            .body(Blob::new(serde_json::json!({"embedding": v, "inputTextTokenCount": 3}).to_string()))
            .content_type("application/json")
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn sends_titan_v2_requests_and_keeps_the_order() {
    let seen: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let capture = seen.clone();
    let spy = mock!(Client::invoke_model)
        .match_requests(move |req| {
            let body = serde_json::from_slice(req.body().unwrap().as_ref()).unwrap();
            capture.lock().unwrap().push((req.model_id().unwrap().to_owned(), body));
            false // only look; echo_length answers
        })
        .then_output(|| unreachable!());
    let embedder =
        TitanEmbedder::new(client(&[&spy, &echo_length(16)]), "amazon.titan-embed-text-v2:0", 16, 4);
    let texts: Vec<String> = (1..=20).map(|n| "x".repeat(n)).collect();
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 20);
    for (i, v) in vectors.iter().enumerate() {
        assert_eq!(v.len(), 16);
        assert_eq!(v[0] as usize, i + 1, "vector {i} is out of order");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 20);
    let (model, body) = &seen[0];
    assert_eq!(model, "amazon.titan-embed-text-v2:0");
    assert_eq!(body["dimensions"], 16);
    assert_eq!(body["normalize"], true);
    assert!(body["inputText"].is_string());
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
}

#[tokio::test]
async fn throttling_then_success_is_retried_and_a_lasting_throttle_is_reported() {
    let throttled = || {
        let mut r = HttpResponse::new(
            StatusCode::try_from(429).unwrap(),
            SdkBody::from(r#"{"message":"Too many requests"}"#),
        );
        r.headers_mut().insert("x-amzn-errortype", "ThrottlingException");
        r
    };
    let rule = mock!(Client::invoke_model)
        .sequence()
        .http_response(throttled)
        .output(|| {
            InvokeModelOutput::builder()
                .body(Blob::new(r#"{"embedding":[0.6,0.8]}"#))
                .content_type("application/json")
                .build()
                .unwrap()
        })
        .build();
    let embedder = TitanEmbedder::new(client(&[&rule]), "m", 2, 1);
    assert_eq!(embedder.embed(&["hello".into()]).await.unwrap(), vec![vec![0.6, 0.8]]);
    assert_eq!(rule.num_calls(), 2);

    let rule = mock!(Client::invoke_model).sequence().http_response(throttled).repeatedly().build();
    let embedder = TitanEmbedder::new(client(&[&rule]), "m", 2, 1);
    assert!(matches!(embedder.embed(&["hello".into()]).await, Err(RagError::Throttled(_))));
}

#[tokio::test]
async fn a_wrong_dimension_count_is_an_error() {
    let rule = mock!(Client::invoke_model).then_output(|| {
        InvokeModelOutput::builder()
            .body(Blob::new(r#"{"embedding":[1.0]}"#))
            .content_type("application/json")
            .build()
            .unwrap()
    });
    let embedder = TitanEmbedder::new(client(&[&rule]), "m", 4, 2);
    let err = embedder.embed(&["a".into()]).await.unwrap_err();
    assert!(err.to_string().contains("returned 1 dimensions, expected 4"), "{err}");
}
