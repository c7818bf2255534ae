//! Re-indexing on AWS, against the emulator: `docs reindex` and a switch of vector store with
//! `enable-rag --vector-store`, which states the store's cost first and re-indexes afterwards.
//! The emulator runs no Lambda, so the ingest function is a small HTTP server answering
//! Lambda's Invoke the way the ingestion handler answers a re-index event (one document fails
//! as a transient failure fails an invocation); opsctl reaches it through the SDK's
//! per-service endpoint variable, and everything else through the emulator.

mod support;

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::types::Parameter;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use support::{Moto, isolate, text};

/// What each stack here needs: the RAG parameters, the documents bucket, the ingest function,
/// and a resource that reads `VectorStore`, so a change of store is a change to apply.
fn stack(bucket: &str, env: &str) -> String {
    json!({
        "Parameters": {
            "EnableRAG": {"Type": "String"},
            "VectorStore": {"Type": "String"},
            "IngestCodeKey": {"Type": "String"},
            "RetrieveCodeKey": {"Type": "String"},
            "EmbeddingDimensions": {"Type": "String"}
        },
        "Resources": {
            "Docs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
            "Store": {"Type": "AWS::SSM::Parameter",
                      "Properties": {"Name": format!("/reindex-test/{env}/store"), "Type": "String",
                                     "Value": {"Ref": "VectorStore"}}}
        },
        "Outputs": {
            "DocumentsBucket": {"Value": {"Ref": "Docs"}},
            "IngestFunctionName": {"Value": format!("chatbot-ingest-{env}")},
            "ApiUrl": {"Value": "http://127.0.0.1:9"}
        }
    })
    .to_string()
}

fn param(k: &str, v: &str) -> Parameter {
    Parameter::builder().parameter_key(k).parameter_value(v).build()
}

/// The ingest function: every key indexed into 3 chunks, except `docs/broken.md`, whose
/// invocation fails as a whole (a function error), as a throttled embedding would.
/// Each invocation: the function's name and the keys asked for.
type Calls = Arc<Mutex<Vec<(String, Vec<String>)>>>;

async fn invoke(calls: Calls, uri: Uri, body: Bytes) -> impl IntoResponse {
    let function = uri.path().split('/').nth(3).unwrap_or_default().to_owned();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let keys: Vec<String> = event["reindex"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    calls.lock().unwrap().push((function, keys.clone()));
    let mut headers = HeaderMap::new();
    if keys.iter().any(|k| k == "docs/broken.md") {
        headers.insert("x-amz-function-error", "Unhandled".parse().unwrap());
        let error =
            json!({"errorMessage": "Bedrock throttled the embedding; try again", "errorType": "Unavailable"});
        return (StatusCode::OK, headers, error.to_string());
    }
    let documents: Vec<Value> = keys.iter().map(|k| json!({"key": k, "indexed_chunks": 3})).collect();
    (StatusCode::OK, headers, json!({ "documents": documents }).to_string())
}

fn opsctl(lambda: &str, args: &[&str]) -> Output {
    let moto = Moto::shared();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsctl"));
    isolate::isolated(&mut cmd)
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ENDPOINT_URL_LAMBDA", lambda)
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::null());
    cmd.output().expect("run opsctl")
}

#[test]
fn reindex_reports_each_key_and_a_store_switch_reindexes_everything() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let calls: Calls = Arc::new(Mutex::new(Vec::new()));
    let lambda = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = calls.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| invoke(calls.clone(), uri, body));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    let sdk = rt.block_on(Moto::shared().sdk_config());
    rt.block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        for (env, bucket, store) in
            [("staging", "reindex-staging", "s3vectors"), ("dev", "reindex-dev", "opensearch")]
        {
            cfn.create_stack()
                .stack_name(format!("chatbot-{env}"))
                .template_body(stack(bucket, env))
                .parameters(param("EnableRAG", "true"))
                .parameters(param("VectorStore", store))
                .parameters(param("IngestCodeKey", "lambda/ingest.zip"))
                .parameters(param("RetrieveCodeKey", "lambda/retrieve.zip"))
                .parameters(param("EmbeddingDimensions", "1024"))
                .send()
                .await
                .unwrap();
            let s3 = aws_sdk_s3::Client::new(&sdk);
            for key in [
                "docs/a.md",
                "docs/broken.md",
                "docs/c.md",
                "docs/d.md",
                "docs/e.md",
                "docs/f.md",
                "docs/g.md",
            ] {
                s3.put_object().bucket(bucket).key(key).body(b"# doc".to_vec().into()).send().await.unwrap();
            }
        }
    });

    // Every document, a few per invocation; the failing one is reported against its own key.
    let out = opsctl(&lambda, &["--env", "staging", "docs", "reindex", "--all", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "one document failed:\n{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let documents = report["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 7, "{report}");
    assert_eq!(report["failed"], 1);
    assert_eq!(report["indexed_chunks"], 18);
    let broken = documents.iter().find(|d| d["key"] == "docs/broken.md").unwrap();
    assert!(broken["failed"].as_str().unwrap().contains("Bedrock throttled"), "{broken}");
    {
        let calls = calls.lock().unwrap();
        assert!(calls.iter().all(|(f, keys)| f == "chatbot-ingest-staging" && keys.len() <= 5), "{calls:?}");
        assert_eq!(calls.len(), 2 + 5, "two calls of 5 and 2, the failed one again key by key: {calls:?}");
    }

    // Named keys, with or without docs/; text output names each verdict.
    let out = opsctl(&lambda, &["--env", "staging", "docs", "reindex", "a.md", "docs/c.md"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "docs/a.md: 3 chunk(s) indexed\ndocs/c.md: 3 chunk(s) indexed");
    let out = opsctl(&lambda, &["--env", "staging", "docs", "reindex"]);
    assert_eq!(out.status.code(), Some(2), "neither --all nor a name");

    // Switching dev from OpenSearch to S3 Vectors: the cost first, then the switch, then every
    // document indexed into the new store.
    calls.lock().unwrap().clear();
    let out = opsctl(
        &lambda,
        &["--env", "dev", "enable-rag", "--vector-store", "s3vectors", "--yes", "--output", "json"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one document failed to re-index:\n{stderr}");
    println!("{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("vector store S3 Vectors: about $"), "the cost comes first:\n{stderr}");
    assert!(stderr.contains("OpenSearch Serverless instead bills at least about $175 a month"), "{stderr}");
    assert!(stderr.contains("docs/broken.md: NOT indexed"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cost = &report["vector_store_cost"];
    assert_eq!(cost["vector_store"], "s3vectors");
    assert_eq!(cost["basis"], "current documents", "{cost}");
    assert_eq!((cost["documents"].as_u64(), cost["chunks"].as_u64()), (Some(7), Some(70)));
    assert!(cost["monthly_usd"].as_f64().unwrap() < 0.05, "{cost}");
    assert_eq!(report["reindexed"]["documents"].as_array().unwrap().len(), 7, "{report}");
    assert_eq!(report["reindexed"]["failed"], 1);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let stored = rt.block_on(ssm.get_parameter().name("/reindex-test/dev/store").send()).unwrap();
    assert_eq!(stored.parameter().unwrap().value(), Some("s3vectors"), "the stack now uses S3 Vectors");
    assert!(calls.lock().unwrap().iter().all(|(f, _)| f == "chatbot-ingest-dev"));

    // Asked again: nothing to change, nothing re-indexed, no cost stated.
    calls.lock().unwrap().clear();
    let out = opsctl(&lambda, &["--env", "dev", "enable-rag", "--yes", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already on for chatbot-dev, with S3 Vectors"),
        "{}",
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.get("vector_store_cost").is_none() && report.get("reindexed").is_none(), "{report}");
    assert!(calls.lock().unwrap().is_empty());

    // status names the store in use, as text and as JSON.
    let out = opsctl(&lambda, &["--env", "dev", "status", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["vector_store"], "s3vectors", "{status}");
    let out = opsctl(&lambda, &["--env", "staging", "status"]);
    assert!(text(&out.stdout).contains("RAG: on, vector store S3 Vectors"), "{}", text(&out.stdout));
}
