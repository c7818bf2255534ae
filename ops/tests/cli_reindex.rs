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

/// The fake ingest function, serving on a runtime of its own: its URL, and what it was asked.
fn ingest_server() -> (tokio::runtime::Runtime, Calls, String) {
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
    (rt, calls, lambda)
}

fn opsctl(lambda: &str, args: &[&str]) -> Output {
    opsctl_in(None, lambda, args)
}

/// opsctl from the workspace root (where the templates are), with `target` as the cargo target
/// directory holding packaged zips when given.
fn opsctl_in(target: Option<&std::path::Path>, lambda: &str, args: &[&str]) -> Output {
    let moto = Moto::shared();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsctl"));
    if let Some(t) = target {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    isolate::isolated(&mut cmd)
        .current_dir(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
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
    let (rt, calls, lambda) = ingest_server();
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

/// The root stack, deployed from this opsctl's templates with RAG on and no store named: the
/// vector bucket and its indexes, and no OpenSearch. `enable-rag --vector-store opensearch` then
/// replaces one store by the other and indexes every document into the collection.
#[test]
fn the_default_store_is_s3_vectors_and_enable_rag_switches_to_opensearch_reindexing_everything() {
    let (rt, calls, lambda) = ingest_server();
    let sdk = rt.block_on(Moto::shared().sdk_config());
    let code = support::packaged_target("reindex-switch", &["chat", "ingest", "retrieve"]);
    let run = |args: &[&str]| opsctl_in(Some(&code), &lambda, &[&["--env", "prod"], args].concat());

    let deploy = ["deploy", "--enable-rag", "--yes", "--no-package", "--arch", "x86_64", "--output", "json"];
    let out = run(&deploy);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "CREATE_COMPLETE", "{report}");
    let outputs = &report["outputs"];
    assert_eq!(
        (outputs["VectorStore"].as_str(), outputs.get("CollectionEndpoint")),
        (Some("s3vectors"), None)
    );
    let bucket = outputs["VectorBucketName"].as_str().expect("the vector bucket").to_owned();

    let vectors = aws_sdk_s3vectors::Client::new(&sdk);
    let indexes = rt.block_on(vectors.list_indexes().vector_bucket_name(&bucket).send()).unwrap();
    let mut names: Vec<&str> = indexes.indexes().iter().map(|i| i.index_name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["chunks", "manifests"]);
    let chunks =
        rt.block_on(vectors.get_index().vector_bucket_name(&bucket).index_name("chunks").send()).unwrap();
    let chunks = chunks.index().expect("the chunks index");
    assert_eq!((chunks.dimension(), chunks.distance_metric().as_str()), (1024, "cosine"));
    let resources = ai_stack_types(&rt, &sdk, "chatbot-prod");
    assert!(resources.iter().any(|t| t == "AWS::S3Vectors::VectorBucket"), "{resources:?}");
    assert!(!resources.iter().any(|t| t.starts_with("AWS::OpenSearchServerless::")), "{resources:?}");

    let documents = outputs["DocumentsBucket"].as_str().unwrap().to_owned();
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let keys = ["docs/cv.md", "docs/trip-notes.txt", "docs/sourdough.pdf"];
    for key in keys {
        rt.block_on(s3.put_object().bucket(&documents).key(key).body(b"# doc".to_vec().into()).send())
            .unwrap();
    }

    let out = run(&["enable-rag", "--vector-store", "opensearch", "--yes", "--output", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.lines().next().unwrap_or_default().starts_with("vector store OpenSearch Serverless"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outputs"]["VectorStore"], "opensearch", "{report}");
    assert!(
        report["outputs"]["CollectionEndpoint"].as_str().is_some_and(|e| e.contains(".aoss.")),
        "{report}"
    );
    assert!(report["outputs"].get("VectorBucketName").is_none(), "{report}");
    let resources = ai_stack_types(&rt, &sdk, "chatbot-prod");
    assert!(resources.iter().any(|t| t == "AWS::OpenSearchServerless::Collection"), "{resources:?}");
    assert!(!resources.iter().any(|t| t.starts_with("AWS::S3Vectors::")), "{resources:?}");

    let reindexed: Vec<&str> = report["reindexed"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["key"].as_str())
        .collect();
    assert_eq!(
        reindexed,
        keys.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>()
    );
    assert_eq!(
        (report["reindexed"]["failed"].as_u64(), report["reindexed"]["indexed_chunks"].as_u64()),
        (Some(0), Some(9))
    );
    // Only the re-index invocations: the deploy's own Lambda calls reach this endpoint too.
    let asked: Vec<String> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .flat_map(|(f, k)| {
            assert_eq!(f, "chatbot-ingest-prod");
            k.clone()
        })
        .collect();
    assert_eq!(asked.len(), keys.len(), "each document once: {asked:?}");
}

/// The resource types of `root`'s AI stack.
fn ai_stack_types(rt: &tokio::runtime::Runtime, sdk: &aws_config::SdkConfig, root: &str) -> Vec<String> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let resources = rt.block_on(cfn.list_stack_resources().stack_name(root).send()).unwrap();
    let ai = resources
        .stack_resource_summaries()
        .iter()
        .find(|r| r.logical_resource_id() == Some("AiStack"))
        .and_then(|r| r.physical_resource_id())
        .expect("the AI stack")
        .to_owned();
    let resources = rt.block_on(cfn.list_stack_resources().stack_name(ai).send()).unwrap();
    resources.stack_resource_summaries().iter().filter_map(|r| r.resource_type()).map(str::to_owned).collect()
}
