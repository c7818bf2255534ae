//! `opsctl cost` on a RAG stack with S3 Vectors, against the emulator: the index's own size
//! (20 documents, 2,000 chunks of 1,024 dimensions, in the manifests index as the adapter
//! writes them), the bytes ingestion wrote and 3,000 retrievals in CloudWatch, priced as the
//! vector store's line of the report.

mod support;

use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, PutInputVector, VectorData};
use chatbot_core::aws::s3vectors::layout::{Generation, LiveVersion, Manifest};
use chatbot_core::aws::s3vectors::to_document;
use serde_json::Value;
use support::{Moto, opsctl, text};

const STACK: &str = r#"{
  "Parameters": {
    "EnableRAG": {"Type": "String", "Default": "true"},
    "VectorStore": {"Type": "String", "Default": "s3vectors"},
    "EmbeddingDimensions": {"Type": "String", "Default": "1024"}
  },
  "Resources": {"Docs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "cost-s3vectors-docs"}}},
  "Outputs": {
    "ApiUrl": {"Value": "http://127.0.0.1:9"},
    "DocumentsBucket": {"Value": {"Ref": "Docs"}},
    "VectorBucketName": {"Value": "chatbot-vectors-dev"},
    "KeyArn": {"Value": "arn:aws:kms:us-east-1:123456789012:key/0000"}
  }
}"#;

/// Each vector: 4,096 bytes of float32, a 45-byte key and about 2 KB of text and metadata.
const BYTES_PER_VECTOR: u64 = 6_240;

fn dims(pairs: &[(&str, &str)]) -> Vec<Dimension> {
    pairs.iter().map(|(k, v)| Dimension::builder().name(*k).value(*v).build()).collect()
}

#[tokio::test]
async fn cost_prices_s3_vectors_from_the_index_and_the_metrics() {
    let sdk = Moto::shared().sdk_config().await;
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name("chatbot-dev")
        .template_body(STACK)
        .send()
        .await
        .unwrap();
    let vectors = aws_sdk_s3vectors::Client::new(&sdk);
    vectors.create_vector_bucket().vector_bucket_name("chatbot-vectors-dev").send().await.unwrap();
    vectors
        .create_index()
        .vector_bucket_name("chatbot-vectors-dev")
        .index_name("manifests")
        .data_type(DataType::Float32)
        .dimension(1)
        .distance_metric(DistanceMetric::Euclidean)
        .send()
        .await
        .unwrap();
    let mut put = vectors.put_vectors().vector_bucket_name("chatbot-vectors-dev").index_name("manifests");
    for i in 0..20 {
        let source = format!("docs/{i:02}.md");
        let manifest = Manifest {
            live: Some(LiveVersion {
                keys: Generation { generation: "g1".into(), chunks: 100 },
                sha256: "0".repeat(64),
                ingested_at: "2026-12-01T00:00:00Z".into(),
                bytes: 100 * BYTES_PER_VECTOR,
            }),
            ..Manifest::empty(&source)
        };
        put = put.vectors(
            PutInputVector::builder()
                .key(chatbot_core::aws::s3vectors::layout::document_id(&source))
                .data(VectorData::Float32(vec![1.0]))
                .metadata(to_document(&manifest.to_metadata().unwrap()))
                .build()
                .unwrap(),
        );
    }
    put.send().await.unwrap();

    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let at = DateTime::from_secs(DateTime::from(SystemTime::now()).secs() - 60);
    let written = MetricDatum::builder()
        .metric_name("VectorBytesWritten")
        .set_dimensions(Some(dims(&[("Environment", "dev"), ("Function", "ingest")])))
        .timestamp(at)
        .value((2_000 * BYTES_PER_VECTOR) as f64)
        .unit(StandardUnit::Bytes)
        .build();
    // 3,000 retrievals of about 300 ms each, as one statistic set.
    let latency = MetricDatum::builder()
        .metric_name("RetrievalLatency")
        .set_dimensions(Some(dims(&[("Environment", "dev"), ("Function", "chat")])))
        .timestamp(at)
        .statistic_values(
            StatisticSet::builder()
                .sample_count(3_000.0)
                .sum(900_000.0)
                .minimum(100.0)
                .maximum(900.0)
                .build(),
        )
        .unit(StandardUnit::Milliseconds)
        .build();
    cw.put_metric_data().namespace("Chatbot").metric_data(written).metric_data(latency).send().await.unwrap();

    let out = tokio::task::spawn_blocking(|| opsctl(None, &["--env", "dev", "cost", "--output", "json"]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = report["lines"].as_array().unwrap();
    let line = lines.iter().find(|l| l["service"] == "S3 Vectors").unwrap_or_else(|| panic!("{report}"));
    println!("{line:#}");
    assert_eq!(line["usage"], "2,000 vectors, 0.0116 GB stored; 0.0116 GB written; 3,000 queries");
    assert!(!lines.iter().any(|l| l["service"].as_str().unwrap().starts_with("OpenSearch")), "{report}");
    // The metered part so far: PUTs $0.002325 + queries $0.0075 + data processed $0.000091;
    // storage accrues with the month ($0.000697 for all of it).
    let mtd = line["month_to_date_usd"].as_f64().unwrap();
    let fraction = report["elapsed_fraction"].as_f64().unwrap();
    let expected = 0.002325 + 0.0075 + 0.000091 + 0.000697 * fraction;
    assert!((mtd - expected).abs() < 2e-6, "{mtd} vs {expected}");
    let notes: Vec<&str> = report["notes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        notes.iter().any(|n| n.contains("each of the 3,000 queries processes all 2,000 vectors")),
        "{notes:?}"
    );
}
