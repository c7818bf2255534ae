//! Deploys the embedded template set to the emulator: the bootstrap stack, then the root stack
//! with its nested stacks read from the artifact bucket, first with RAG off, then switched on
//! and off again by an update; and RAG with each vector store, switched from one to the other.

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

/// The root stack's parameters for `env`; `store` is VectorStore, or its default when None.
fn root_parameters(env: &str, bucket: &str, rag: bool, store: Option<&str>) -> Vec<Parameter> {
    let mut params = vec![
        param("Environment", env),
        param("EnableRAG", if rag { "true" } else { "false" }),
        param("ArtifactBucket", bucket),
        param("ChatCodeKey", "lambda/chat-test.zip"),
        param("IngestCodeKey", "lambda/ingest-test.zip"),
        param("RetrieveCodeKey", "lambda/retrieve-test.zip"),
        param("AlarmEmail", "ops@example.com"),
    ];
    if let Some(store) = store {
        params.push(param("VectorStore", store));
    }
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

/// The bootstrap stack of `env`, with the nested templates and placeholder code in its bucket.
async fn bootstrap(sdk: &SdkConfig, cfn: &Cfn, env: &str) -> String {
    let stack = format!("chatbot-bootstrap-{env}");
    let boot = deploy(cfn, &stack, &templates::BOOTSTRAP, vec![param("Environment", env)], false).await;
    let bucket = boot["ArtifactBucketName"].clone();
    assert_eq!(bucket, format!("chatbot-artifacts-{env}-123456789012-us-east-1"));
    for t in templates::NESTED {
        upload(sdk, &bucket, &t.content_key(), t.body.as_bytes().to_vec()).await;
    }
    for f in ["chat", "ingest", "retrieve"] {
        upload(sdk, &bucket, &format!("lambda/{f}-test.zip"), EMPTY_ZIP.to_vec()).await;
    }
    bucket
}

/// The types of the resources the root stack's AI stack has, by logical id.
async fn ai_stack_resources(cfn: &Cfn, root: &str) -> HashMap<String, String> {
    let root_resources = cfn.list_stack_resources().stack_name(root).send().await.expect("root resources");
    let ai = root_resources
        .stack_resource_summaries()
        .iter()
        .find(|r| r.logical_resource_id() == Some("AiStack"))
        .and_then(|r| r.physical_resource_id())
        .expect("the AI stack")
        .to_owned();
    let out = cfn.list_stack_resources().stack_name(ai).send().await.expect("AI stack resources");
    out.stack_resource_summaries()
        .iter()
        .map(|r| {
            (r.logical_resource_id().unwrap_or("").to_owned(), r.resource_type().unwrap_or("").to_owned())
        })
        .collect()
}

async fn environment(sdk: &SdkConfig, function: &str) -> HashMap<String, String> {
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let config = lambda.get_function_configuration().function_name(function).send().await.expect(function);
    config.environment().and_then(|e| e.variables()).cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_template_set_deploys_and_switches_rag_on_and_off() {
    let sdk = Moto::shared().sdk_config().await;
    let cfn = Cfn::new(&sdk);

    // 1-2. The bootstrap stack, its artifact bucket, the nested templates and placeholder code.
    let bucket = bootstrap(&sdk, &cfn, "dev").await;

    // 3. RAG off.
    let params = |rag, store| root_parameters("dev", &bucket, rag, store);
    let out = deploy(&cfn, "chatbot-dev", &templates::MAIN, params(false, None), false).await;
    assert_eq!(out["TableName"], "chatbot-conversations-dev");
    assert_eq!(out["ChatFunctionName"], "chatbot-chat-dev");
    assert_eq!(out["TokenParameter"], "/chatbot/dev/api-token");
    assert_eq!(out["DashboardName"], "chatbot-dev");
    assert!(out["ApiUrl"].starts_with("https://") && !out["ApiUrl"].contains("${"), "{}", out["ApiUrl"]);
    assert!(out["KeyArn"].starts_with("arn:aws:kms:us-east-1:123456789012:key/"));
    assert!(!out.contains_key("CollectionEndpoint") && !out.contains_key("IngestFunctionName"));
    assert!(!out.contains_key("VectorStore"));
    // The documents bucket takes browser uploads from the app's origin alone: the function URL
    // less its trailing slash, handed from the compute stack to the storage stack.
    let cors = aws_sdk_s3::Client::new(&sdk)
        .get_bucket_cors()
        .bucket(&out["DocumentsBucket"])
        .send()
        .await
        .expect("the documents bucket's CORS rule");
    let rule = &cors.cors_rules()[0];
    assert_eq!(rule.allowed_origins(), [out["ApiUrl"].trim_end_matches('/')]);
    assert_eq!(
        (rule.allowed_methods(), rule.allowed_headers()),
        (&["PUT".to_owned()][..], &["content-type".to_owned()][..])
    );
    assert!(!environment(&sdk, "chatbot-chat-dev").await.contains_key("DOCUMENTS_BUCKET"), "RAG off");

    // 4. RAG on with OpenSearch: the AI stack is created by the update, with the collection.
    let out = deploy(&cfn, "chatbot-dev", &templates::MAIN, params(true, Some("opensearch")), true).await;
    assert_eq!(out["IngestFunctionName"], "chatbot-ingest-dev");
    assert_eq!(out["RetrieveFunctionName"], "chatbot-retrieve-dev");
    assert_eq!(out["VectorStore"], "opensearch");
    assert!(
        out["CollectionEndpoint"].ends_with(".us-east-1.aoss.amazonaws.com"),
        "{}",
        out["CollectionEndpoint"]
    );
    assert!(!out.contains_key("VectorBucketName"), "{out:?}");
    let stacks = nested_stacks(&cfn).await;
    assert!(
        stacks
            .iter()
            .any(|(name, status)| name.starts_with("chatbot-dev-AiStack") && status == "CREATE_COMPLETE"),
        "{stacks:?}"
    );
    let env = environment(&sdk, "chatbot-ingest-dev").await;
    assert_eq!(env.get("VECTOR_STORE").map(String::as_str), Some("opensearch"), "{env:?}");
    assert_eq!(env.get("COLLECTION_ENDPOINT"), Some(&out["CollectionEndpoint"]));
    assert!(!env.contains_key("VECTOR_BUCKET"), "{env:?}");
    assert_eq!(env.get("TABLE_NAME"), Some(&out["TableName"]), "ingestion records statuses there");
    let chat = environment(&sdk, "chatbot-chat-dev").await;
    assert_eq!(chat.get("DOCUMENTS_BUCKET"), Some(&out["DocumentsBucket"]), "{chat:?}");

    // 5. RAG off again: the AI stack goes away, the rest stays.
    let out = deploy(&cfn, "chatbot-dev", &templates::MAIN, params(false, None), true).await;
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

/// RAG with the default store: an S3 Vectors bucket and its indexes, no OpenSearch, then a
/// switch to OpenSearch that replaces one store by the other.
#[tokio::test]
async fn rag_defaults_to_s3_vectors_and_switches_to_opensearch() {
    let sdk = Moto::shared().sdk_config().await;
    let cfn = Cfn::new(&sdk);
    let bucket = bootstrap(&sdk, &cfn, "staging").await;
    let params = |rag, store| root_parameters("staging", &bucket, rag, store);

    let out = deploy(&cfn, "chatbot-staging", &templates::MAIN, params(true, None), false).await;
    assert_eq!(out["VectorStore"], "s3vectors");
    assert_eq!(out["VectorBucketName"], "chatbot-vectors-staging");
    let index = "arn:aws:s3vectors:us-east-1:123456789012:bucket/chatbot-vectors-staging/index";
    assert_eq!(out["ChunksIndexArn"], format!("{index}/chunks"));
    assert_eq!(out["ManifestsIndexArn"], format!("{index}/manifests"));
    assert!(!out.contains_key("CollectionEndpoint"), "{out:?}");
    let resources = ai_stack_resources(&cfn, "chatbot-staging").await;
    assert_eq!(resources.get("VectorBucket").map(String::as_str), Some("AWS::S3Vectors::VectorBucket"));
    assert_eq!(resources.get("ChunksIndex").map(String::as_str), Some("AWS::S3Vectors::Index"));
    assert_eq!(resources.get("ManifestsIndex").map(String::as_str), Some("AWS::S3Vectors::Index"));
    assert!(!resources.values().any(|t| t.starts_with("AWS::OpenSearchServerless::")), "{resources:?}");
    for function in ["chatbot-ingest-staging", "chatbot-retrieve-staging"] {
        let env = environment(&sdk, function).await;
        let var = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(var("VECTOR_STORE"), Some("s3vectors"), "{function}: {env:?}");
        assert_eq!(var("VECTOR_BUCKET"), Some("chatbot-vectors-staging"), "{function}");
        assert_eq!((var("INDEX_NAME"), var("MANIFEST_INDEX_NAME")), (Some("chunks"), Some("manifests")));
        assert_eq!(var("COLLECTION_ENDPOINT"), None, "{function}");
    }

    let out = deploy(&cfn, "chatbot-staging", &templates::MAIN, params(true, Some("opensearch")), true).await;
    assert_eq!(out["VectorStore"], "opensearch");
    assert!(out["CollectionEndpoint"].ends_with(".us-east-1.aoss.amazonaws.com"), "{out:?}");
    assert!(!out.contains_key("VectorBucketName") && !out.contains_key("ChunksIndexArn"), "{out:?}");
    let resources = ai_stack_resources(&cfn, "chatbot-staging").await;
    assert!(!resources.values().any(|t| t.starts_with("AWS::S3Vectors::")), "{resources:?}");
    assert_eq!(
        resources.get("VectorCollection").map(String::as_str),
        Some("AWS::OpenSearchServerless::Collection")
    );
    let env = environment(&sdk, "chatbot-retrieve-staging").await;
    assert_eq!(env.get("VECTOR_STORE").map(String::as_str), Some("opensearch"), "{env:?}");
    assert!(!env.contains_key("VECTOR_BUCKET"), "{env:?}");
}
