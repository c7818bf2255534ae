//! Which CloudWatch metrics measure the environment's billable usage, fetching them all in one
//! `GetMetricData` call per page, and reading the answers into [`Usage`].
//!
//! Chat-model tokens come from the chatbot's own `Chatbot InputTokens/OutputTokens` (dimensions
//! Environment, Function=chat): `AWS/Bedrock` counts by ModelId for the whole account, so two
//! environments sharing a model would each be charged for both. Embedding tokens have no
//! metric of our own, so they are `AWS/Bedrock InputTokenCount` for the embedding model:
//! account-wide, an over-estimate when something else embeds with the same model.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;

use super::Window;

/// GetMetricData's limit on queries per call.
const MAX_QUERIES: usize = 500;
/// Daily sums: a multiple of an hour, as CloudWatch requires for data older than 15 days, and
/// aligned on the month's first midnight.
const PERIOD_SECONDS: i32 = 86_400;

/// What the stack says the environment is made of.
#[derive(Debug, Clone)]
pub struct Resources {
    pub env: String,
    /// Functions as (name, memory in MB); ingest and retrieve exist only with RAG.
    pub functions: Vec<(String, u32)>,
    /// The chat function: its URL's requests are the API's.
    pub api_function: Option<String>,
    pub table: Option<String>,
    pub bucket: Option<String>,
    pub chat_model: String,
    pub embedding_model: Option<String>,
    /// The account id (from the key's ARN): OpenSearch Serverless reports OCUs per account.
    /// `None` with `collection` set charges the floor alone.
    pub account: Option<String>,
    /// The chunks are in an OpenSearch Serverless collection.
    pub collection: bool,
    /// The chunks are in S3 Vectors, of this many dimensions.
    pub s3_vectors: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub id: String,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    pub stat: &'static str,
}

fn q(
    id: impl Into<String>,
    namespace: &'static str,
    metric: &'static str,
    dims: &[(&'static str, &str)],
    stat: &'static str,
) -> Query {
    let dimensions = dims.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    Query { id: id.into(), namespace, metric, dimensions, stat }
}

pub fn queries(r: &Resources) -> Vec<Query> {
    let mut out = Vec::new();
    for (i, (name, _)) in r.functions.iter().enumerate() {
        let d = [("FunctionName", name.as_str())];
        out.push(q(format!("fn{i}_invocations"), "AWS/Lambda", "Invocations", &d, "Sum"));
        out.push(q(format!("fn{i}_duration"), "AWS/Lambda", "Duration", &d, "Sum"));
    }
    if let Some(function) = &r.api_function {
        out.push(q("api_requests", "AWS/Lambda", "UrlRequestCount", &[("FunctionName", function)], "Sum"));
    }
    if let Some(t) = &r.table {
        let d = [("TableName", t.as_str())];
        out.push(q("ddb_read", "AWS/DynamoDB", "ConsumedReadCapacityUnits", &d, "Sum"));
        out.push(q("ddb_write", "AWS/DynamoDB", "ConsumedWriteCapacityUnits", &d, "Sum"));
    }
    let chat = [("Environment", r.env.as_str()), ("Function", "chat")];
    out.push(q("chat_in", "Chatbot", "InputTokens", &chat, "Sum"));
    out.push(q("chat_out", "Chatbot", "OutputTokens", &chat, "Sum"));
    out.push(q("kms_requests", "Chatbot", "KmsRequests", &chat, "Sum"));
    if let Some(m) = &r.embedding_model {
        out.push(q("embed_in", "AWS/Bedrock", "InputTokenCount", &[("ModelId", m)], "Sum"));
    }
    if let (true, Some(account)) = (r.collection, &r.account) {
        let d = [("ClientId", account.as_str())];
        out.push(q("ocu_indexing", "AWS/AOSS", "IndexingOCU", &d, "Average"));
        out.push(q("ocu_search", "AWS/AOSS", "SearchOCU", &d, "Average"));
    }
    if r.s3_vectors.is_some() {
        let ingest = [("Environment", r.env.as_str()), ("Function", "ingest")];
        out.push(q("vector_bytes", "Chatbot", "VectorBytesWritten", &ingest, "Sum"));
        // Every retrieval is one QueryVectors call: the latency's sample count counts them.
        out.push(q("retrievals", "Chatbot", "RetrievalLatency", &chat, "SampleCount"));
    }
    if let Some(b) = &r.bucket {
        let d = [("BucketName", b.as_str()), ("StorageType", "StandardStorage")];
        out.push(q("s3_bytes", "AWS/S3", "BucketSizeBytes", &d, "Average"));
    }
    out
}

/// Each query's daily values, by query id.
pub type Results = BTreeMap<String, Vec<f64>>;

/// Runs every query over the window: one call per 500 queries, each paged with NextToken.
/// Returns the values and the number of calls made.
pub async fn fetch(cw: &Client, queries: &[Query], window: &Window) -> anyhow::Result<(Results, usize)> {
    let mut out = Results::new();
    let mut calls = 0;
    let built: Vec<MetricDataQuery> = queries.iter().map(build).collect();
    for batch in built.chunks(MAX_QUERIES) {
        let mut token: Option<String> = None;
        loop {
            calls += 1;
            let page = cw
                .get_metric_data()
                .start_time(DateTime::from_secs(window.start.unix_timestamp()))
                .end_time(DateTime::from_secs(window.end.unix_timestamp()))
                .scan_by(ScanBy::TimestampAscending)
                .set_metric_data_queries(Some(batch.to_vec()))
                .set_next_token(token.take())
                .send()
                .await
                .context("reading usage metrics (GetMetricData)")?;
            for r in page.metric_data_results() {
                let Some(id) = r.id() else { continue };
                out.entry(id.to_owned()).or_default().extend(r.values().iter().copied());
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
    }
    Ok((out, calls))
}

fn build(query: &Query) -> MetricDataQuery {
    let dims = query.dimensions.iter().map(|(k, v)| Dimension::builder().name(*k).value(v).build()).collect();
    let metric = Metric::builder()
        .namespace(query.namespace)
        .metric_name(query.metric)
        .set_dimensions(Some(dims))
        .build();
    let stat = MetricStat::builder().metric(metric).period(PERIOD_SECONDS).stat(query.stat).build();
    MetricDataQuery::builder().id(&query.id).metric_stat(stat).return_data(true).build()
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionUsage {
    pub name: String,
    pub memory_mb: u32,
    pub invocations: f64,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelTokens {
    pub model: String,
    pub input: f64,
    pub output: f64,
}

/// What S3 Vectors bills: the index's size (read from the index itself, not CloudWatch), the
/// bytes written (`Chatbot VectorBytesWritten`) and the queries made (retrievals).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct S3VectorsUsage {
    pub dimensions: u32,
    /// `None` when the index could not be read; the report says why.
    pub corpus: Option<crate::vector_store::Corpus>,
    pub bytes_written: f64,
    pub queries: f64,
}

/// The month's billable usage so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    pub functions: Vec<FunctionUsage>,
    /// Requests to the chat function's URL; they cost nothing beyond the chat invocations.
    pub api_requests: f64,
    pub read_units: f64,
    pub write_units: f64,
    pub tokens: Vec<ModelTokens>,
    pub kms_requests: f64,
    /// Some when the environment has a vector collection: the average OCUs measured (indexing
    /// plus search), if CloudWatch had any.
    pub collection: Option<Option<f64>>,
    /// Some when the chunks are in S3 Vectors.
    pub s3_vectors: Option<S3VectorsUsage>,
    pub s3_average_bytes: f64,
    /// Alarms are billed per metric they watch: a metric-math alarm over two metrics is two.
    pub alarm_metrics: u32,
}

impl Usage {
    pub fn read(r: &Resources, results: &Results) -> Self {
        let sum = |id: &str| results.get(id).map_or(0.0, |v| v.iter().sum::<f64>() + 0.0);
        let mean = |id: &str| {
            results.get(id).filter(|v| !v.is_empty()).map(|v| v.iter().sum::<f64>() / v.len() as f64)
        };
        let functions = r
            .functions
            .iter()
            .enumerate()
            .map(|(i, (name, memory_mb))| FunctionUsage {
                name: name.clone(),
                memory_mb: *memory_mb,
                invocations: sum(&format!("fn{i}_invocations")),
                duration_ms: sum(&format!("fn{i}_duration")),
            })
            .collect();
        let mut tokens =
            vec![ModelTokens { model: r.chat_model.clone(), input: sum("chat_in"), output: sum("chat_out") }];
        if let Some(m) = &r.embedding_model {
            tokens.push(ModelTokens { model: m.clone(), input: sum("embed_in"), output: 0.0 });
        }
        let ocus = match (mean("ocu_indexing"), mean("ocu_search")) {
            (None, None) => None,
            (i, s) => Some(i.unwrap_or(0.0) + s.unwrap_or(0.0)),
        };
        Self {
            functions,
            api_requests: sum("api_requests"),
            read_units: sum("ddb_read"),
            write_units: sum("ddb_write"),
            tokens,
            kms_requests: sum("kms_requests"),
            collection: r.collection.then_some(ocus),
            s3_vectors: r.s3_vectors.map(|dimensions| S3VectorsUsage {
                dimensions,
                corpus: None,
                bytes_written: sum("vector_bytes"),
                queries: sum("retrievals"),
            }),
            s3_average_bytes: mean("s3_bytes").unwrap_or(0.0),
            alarm_metrics: 0,
        }
    }
}

/// The metrics the environment's alarms watch (`chatbot-<env>-…`), which is what CloudWatch bills.
pub async fn alarm_metrics(cw: &Client, env: &str) -> anyhow::Result<u32> {
    let alarms = crate::alarms::metric_alarms(cw, env).await?;
    Ok(alarms
        .iter()
        .map(|a| {
            let watched = a.metrics().iter().filter(|m| m.metric_stat().is_some()).count();
            u32::try_from(watched.max(1)).unwrap_or(1)
        })
        .sum())
}

/// A CloudWatch client for the billing metrics: `sdk`'s credentials and endpoint, in us-east-1.
pub fn billing_client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .region(aws_config::Region::new(crate::aws::BILLING_REGION))
        .build();
    Client::from_conf(config)
}

/// The account's `AWS/Billing EstimatedCharges` (USD) this month, or `None` when billing alerts
/// are off (CloudWatch then has no datapoints). The client must be in us-east-1.
pub async fn billing_estimate(billing: &Client, window: &Window) -> anyhow::Result<Option<f64>> {
    let metric = Metric::builder()
        .namespace("AWS/Billing")
        .metric_name("EstimatedCharges")
        .dimensions(Dimension::builder().name("Currency").value("USD").build())
        .build();
    let query = MetricDataQuery::builder()
        .id("billing")
        .metric_stat(MetricStat::builder().metric(metric).period(21_600).stat("Maximum").build())
        .build();
    let page = billing
        .get_metric_data()
        .start_time(DateTime::from_secs(window.start.unix_timestamp()))
        .end_time(DateTime::from_secs(window.end.unix_timestamp()))
        .metric_data_queries(query)
        .send()
        .await
        .context("reading AWS/Billing EstimatedCharges in us-east-1")?;
    // The estimate only grows within a month, so its largest value is the latest.
    Ok(page.metric_data_results().first().and_then(|r| r.values().iter().copied().reduce(f64::max)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::Function;

    fn resources(rag: bool) -> Resources {
        let functions = Function::deployed(rag).map(|f| (f.function_name("dev"), f.memory_mb())).collect();
        Resources {
            env: "dev".into(),
            functions,
            api_function: Some("chatbot-chat-dev".into()),
            table: Some("chatbot-conversations-dev".into()),
            bucket: Some("chatbot-documents-dev-123456789012-us-east-1".into()),
            chat_model: "us.anthropic.claude-sonnet-4-6".into(),
            embedding_model: rag.then(|| "amazon.titan-embed-text-v2:0".into()),
            account: Some("123456789012".into()),
            collection: rag,
            s3_vectors: None,
        }
    }

    #[test]
    fn memory_sizes_match_the_templates() {
        let compute = include_str!("../../../templates/compute.yaml");
        let ai = include_str!("../../../templates/ai.yaml");
        for (f, mb) in Function::ALL.map(|f| (f.name(), f.memory_mb())) {
            let text = if f == "chat" { compute } else { ai };
            let at = text.find(&format!("FunctionName: !Sub chatbot-{f}-${{Environment}}")).unwrap();
            let memory = text[at..].lines().find(|l| l.trim().starts_with("MemorySize:")).unwrap();
            assert_eq!(memory.trim(), format!("MemorySize: {mb}"), "{f}");
        }
    }

    #[test]
    fn query_ids_are_unique_and_valid_and_rag_adds_its_metrics() {
        let without = queries(&resources(false));
        let with = queries(&resources(true));
        assert_eq!(without.len(), 9);
        assert_eq!(with.len(), 16);
        let mut ids: Vec<&str> = with.iter().map(|q| q.id.as_str()).collect();
        assert!(ids.iter().all(|id| id.starts_with(|c: char| c.is_ascii_lowercase())));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), with.len());
        let s3v = queries(&Resources { collection: false, s3_vectors: Some(1_024), ..resources(true) });
        assert_eq!(s3v.len(), 16, "S3 Vectors' two metrics in place of the collection's two");
        let retrievals = s3v.iter().find(|q| q.id == "retrievals").unwrap();
        assert_eq!((retrievals.metric, retrievals.stat), ("RetrievalLatency", "SampleCount"));
        assert_eq!(retrievals.dimensions[1], ("Function", "chat".to_owned()));
        let written = s3v.iter().find(|q| q.id == "vector_bytes").unwrap();
        assert_eq!((written.namespace, written.metric), ("Chatbot", "VectorBytesWritten"));
        assert_eq!(written.dimensions[1], ("Function", "ingest".to_owned()));
        let api = without.iter().find(|q| q.id == "api_requests").unwrap();
        assert_eq!((api.namespace, api.metric, api.stat), ("AWS/Lambda", "UrlRequestCount", "Sum"));
        assert_eq!(api.dimensions, [("FunctionName", "chatbot-chat-dev".to_owned())]);
        let s3 = with.iter().find(|q| q.id == "s3_bytes").unwrap();
        assert_eq!(s3.dimensions[1], ("StorageType", "StandardStorage".to_owned()));
        assert_eq!(s3.stat, "Average");
    }

    #[test]
    fn results_are_summed_or_averaged_per_query() {
        let r = resources(true);
        let results: Results = [
            ("fn0_invocations", vec![600.0, 400.0]),
            ("fn0_duration", vec![1_000_000.0, 1_000_000.0]),
            ("chat_in", vec![2_000_000.0]),
            ("ocu_indexing", vec![0.5, 0.5]),
            ("ocu_search", vec![0.5, 1.5]),
            ("s3_bytes", vec![100.0, 300.0]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let u = Usage::read(&r, &results);
        assert_eq!(u.functions[0].invocations, 1_000.0);
        assert_eq!(u.functions[0].duration_ms, 2_000_000.0);
        assert_eq!(u.functions[1].invocations, 0.0);
        assert_eq!(u.tokens[0].input, 2_000_000.0);
        assert_eq!(u.tokens[1].model, "amazon.titan-embed-text-v2:0");
        assert_eq!(u.collection, Some(Some(1.5)));
        assert_eq!(u.s3_average_bytes, 200.0);
        assert_eq!(Usage::read(&resources(false), &Results::new()).collection, None);
        assert_eq!(u.s3_vectors, None);
        let r = Resources { collection: false, s3_vectors: Some(1_024), ..resources(true) };
        let results: Results = [("vector_bytes", vec![1_000.0, 500.0]), ("retrievals", vec![40.0, 60.0])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let v = Usage::read(&r, &results).s3_vectors.unwrap();
        assert_eq!((v.bytes_written, v.queries, v.dimensions, v.corpus), (1_500.0, 100.0, 1_024, None));
    }
}
