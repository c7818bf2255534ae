//! Deploys the embedded template set to the emulator: the bootstrap stack, then the root stack
//! with its nested stacks read from the artifact bucket, first with RAG off, then switched on
//! and off again by an update.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_s3::primitives::ByteStream;
use opsctl::templates::{self, Template};
use support::{EMPTY_ZIP, Moto};

fn param(k: &str, v: &str) -> Parameter {
    Parameter::builder().parameter_key(k).parameter_value(v).build()
}

/// Polls until the stack leaves every *_IN_PROGRESS state; on failure, lists each failed
/// resource with its reason.
async fn settle(cfn: &Cfn, stack: &str) -> (StackStatus, HashMap<String, String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = cfn.describe_stacks().stack_name(stack).send().await.expect("describe_stacks");
        let s = &out.stacks()[0];
        let status = s.stack_status().expect("status").clone();
        if !status.as_str().ends_with("_IN_PROGRESS") {
            let outputs = s
                .outputs()
                .iter()
                .map(|o| (o.output_key().unwrap_or("").to_owned(), o.output_value().unwrap_or("").to_owned()))
                .collect();
            return (status, outputs);
        }
        assert!(Instant::now() < deadline, "{stack} still {status:?} after 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn failure_report(cfn: &Cfn, stack: &str) -> String {
    let events = cfn.describe_stack_events().stack_name(stack).send().await.expect("events");
    events
        .stack_events()
        .iter()
        .filter(|e| e.resource_status().is_some_and(|s| s.as_str().ends_with("FAILED")))
        .map(|e| {
            format!(
                "{} {}: {}",
                e.logical_resource_id().unwrap_or("?"),
                e.resource_status().map(|s| s.as_str()).unwrap_or(""),
                e.resource_status_reason().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn upload(sdk: &SdkConfig, bucket: &str, key: &str, body: Vec<u8>) {
    aws_sdk_s3::Client::new(sdk)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload {key}: {e:?}"));
}

fn root_parameters(bucket: &str, rag: bool) -> Vec<Parameter> {
    let mut params = vec![
        param("Environment", "dev"),
        param("EnableRAG", if rag { "true" } else { "false" }),
        param("ArtifactBucket", bucket),
        param("ChatCodeKey", "lambda/chat-test.zip"),
        param("IngestCodeKey", "lambda/ingest-test.zip"),
        param("RetrieveCodeKey", "lambda/retrieve-test.zip"),
        param("AlarmEmail", "ops@example.com"),
    ];
    for t in templates::NESTED {
        params.push(param(t.key_parameter.expect("nested"), &t.content_key()));
    }
    params
}

async fn deploy(
    cfn: &Cfn,
    stack: &str,
    template: &Template,
    params: Vec<Parameter>,
    update: bool,
) -> HashMap<String, String> {
    let caps = [Capability::CapabilityNamedIam, Capability::CapabilityAutoExpand];
    let result = if update {
        let mut req =
            cfn.update_stack().stack_name(stack).template_body(template.body).set_parameters(Some(params));
        for c in caps {
            req = req.capabilities(c);
        }
        req.send().await.map(|_| ()).map_err(|e| format!("{e:?}"))
    } else {
        let mut req =
            cfn.create_stack().stack_name(stack).template_body(template.body).set_parameters(Some(params));
        for c in caps {
            req = req.capabilities(c);
        }
        req.send().await.map(|_| ()).map_err(|e| format!("{e:?}"))
    };
    if let Err(e) = result {
        panic!(
            "{} {stack}: {}\n{}",
            if update { "update" } else { "create" },
            e,
            failure_report(cfn, stack).await
        );
    }
    let (status, outputs) = settle(cfn, stack).await;
    let expected = if update { StackStatus::UpdateComplete } else { StackStatus::CreateComplete };
    assert_eq!(status, expected, "{stack}:\n{}", failure_report(cfn, stack).await);
    outputs
}

async fn nested_stacks(cfn: &Cfn) -> HashMap<String, String> {
    let out = cfn.list_stacks().send().await.expect("list_stacks");
    out.stack_summaries()
        .iter()
        .map(|s| {
            (
                s.stack_name().unwrap_or("").to_owned(),
                s.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_template_set_deploys_and_switches_rag_on_and_off() {
    let sdk = Moto::shared().sdk_config().await;
    let cfn = Cfn::new(&sdk);

    // 1. The bootstrap stack and its artifact bucket.
    let boot = deploy(
        &cfn,
        "chatbot-bootstrap-dev",
        &templates::BOOTSTRAP,
        vec![param("Environment", "dev")],
        false,
    )
    .await;
    let bucket = boot["ArtifactBucketName"].clone();
    assert_eq!(bucket, "chatbot-artifacts-dev-123456789012-us-east-1");

    // 2. Nested templates under their content keys, and placeholder code.
    for t in templates::NESTED {
        upload(&sdk, &bucket, &t.content_key(), t.body.as_bytes().to_vec()).await;
    }
    for f in ["chat", "ingest", "retrieve"] {
        upload(&sdk, &bucket, &format!("lambda/{f}-test.zip"), EMPTY_ZIP.to_vec()).await;
    }

    // 3. RAG off.
    let out = deploy(&cfn, "chatbot-dev", &templates::MAIN, root_parameters(&bucket, false), false).await;
    assert_eq!(out["TableName"], "chatbot-conversations-dev");
    assert_eq!(out["ChatFunctionName"], "chatbot-chat-dev");
    assert_eq!(out["TokenParameter"], "/chatbot/dev/api-token");
    assert_eq!(out["DashboardName"], "chatbot-dev");
    assert!(out["ApiUrl"].starts_with("https://") && !out["ApiUrl"].contains("${"), "{}", out["ApiUrl"]);
    assert!(out["KeyArn"].starts_with("arn:aws:kms:us-east-1:123456789012:key/"));
    assert!(!out.contains_key("CollectionEndpoint") && !out.contains_key("IngestFunctionName"));

    // 4. RAG on: the AI stack is created by the update.
    let out = deploy(&cfn, "chatbot-dev", &templates::MAIN, root_parameters(&bucket, true), true).await;
    assert_eq!(out["IngestFunctionName"], "chatbot-ingest-dev");
    assert_eq!(out["RetrieveFunctionName"], "chatbot-retrieve-dev");
    assert!(
        out["CollectionEndpoint"].ends_with(".us-east-1.aoss.amazonaws.com"),
        "{}",
        out["CollectionEndpoint"]
    );
    let stacks = nested_stacks(&cfn).await;
    assert!(
        stacks
            .iter()
            .any(|(name, status)| name.starts_with("chatbot-dev-AiStack") && status == "CREATE_COMPLETE"),
        "{stacks:?}"
    );

    // 5. RAG off again: the AI stack goes away, the rest stays.
    let out = deploy(&cfn, "chatbot-dev", &templates::MAIN, root_parameters(&bucket, false), true).await;
    assert!(!out.contains_key("CollectionEndpoint"));
    assert_eq!(out["TableName"], "chatbot-conversations-dev");
    let stacks = nested_stacks(&cfn).await;
    assert!(
        stacks
            .iter()
            .filter(|(n, _)| n.starts_with("chatbot-dev-AiStack"))
            .all(|(_, s)| s == "DELETE_COMPLETE"),
        "{stacks:?}"
    );
}
