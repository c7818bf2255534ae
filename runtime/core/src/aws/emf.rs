//! Metrics as CloudWatch Embedded Metric Format lines.
//!
//! Lambda ships stdout to CloudWatch Logs, which extracts EMF lines into metrics: no
//! PutMetricData call, so no latency or cost on the request path.

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::ports::{IngestMetrics, MetricsSink, TurnMetrics};

pub const NAMESPACE: &str = "Chatbot";

pub struct EmfMetrics {
    namespace: String,
    environment: String,
    function: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl EmfMetrics {
    pub fn stdout(environment: &str, function: &str) -> Self {
        Self::to_writer(environment, function, Box::new(std::io::stdout()))
    }

    pub fn to_writer(environment: &str, function: &str, out: Box<dyn Write + Send>) -> Self {
        Self {
            namespace: NAMESPACE.to_owned(),
            environment: environment.to_owned(),
            function: function.to_owned(),
            out: Mutex::new(out),
        }
    }

    /// One EMF document for an ingested document. Lambda's own Duration already times
    /// ingestion, and a custom metric costs money, so the chunk count is all it adds.
    pub fn ingest_line(&self, m: &IngestMetrics, timestamp_ms: i64) -> String {
        self.document(
            &[
                ("IngestedChunks", "Count", Value::from(m.chunks)),
                ("VectorBytesWritten", "Bytes", Value::from(m.bytes_written)),
            ],
            timestamp_ms,
        )
    }

    /// One EMF document for a chat turn.
    pub fn turn_line(&self, m: &TurnMetrics, timestamp_ms: i64) -> String {
        let mut metrics = vec![
            ("InputTokens", "Count", Value::from(m.input_tokens)),
            ("OutputTokens", "Count", Value::from(m.output_tokens)),
            ("ModelLatency", "Milliseconds", Value::from(ms(m.model_latency))),
            ("HandlerOverhead", "Milliseconds", Value::from(ms(m.handler_overhead))),
            ("KmsRequests", "Count", Value::from(m.key_service_requests)),
            // Always sent, 0 included, so an alarm on it sees data rather than missing data.
            ("HistoryItemsSkipped", "Count", Value::from(m.history_items_skipped)),
        ];
        if let Some(r) = m.retrieval_latency {
            metrics.push(("RetrievalLatency", "Milliseconds", Value::from(ms(r))));
        }
        self.document(&metrics, timestamp_ms)
    }

    /// An EMF document declaring exactly the metrics it carries, under our namespace and
    /// dimensions.
    fn document(&self, metrics: &[(&str, &str, Value)], timestamp_ms: i64) -> String {
        let mut doc = Map::new();
        doc.insert("Environment".into(), Value::from(self.environment.as_str()));
        doc.insert("Function".into(), Value::from(self.function.as_str()));
        let mut defs = Vec::with_capacity(metrics.len());
        for (name, unit, value) in metrics {
            doc.insert((*name).to_owned(), value.clone());
            defs.push(json!({"Name": name, "Unit": unit}));
        }
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Environment", "Function"]],
                    "Metrics": defs,
                }]
            }),
        );
        Value::Object(doc).to_string()
    }

    fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Losing a metric line must never fail a chat turn or an ingestion.
        if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
            tracing::warn!(error = %e, "could not write an EMF metrics line");
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

#[async_trait]
impl MetricsSink for EmfMetrics {
    async fn record_turn(&self, metrics: &TurnMetrics) {
        self.write_line(&self.turn_line(metrics, now_ms()));
    }

    async fn record_ingest(&self, metrics: &IngestMetrics) {
        self.write_line(&self.ingest_line(metrics, now_ms()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let sink = EmfMetrics::to_writer("dev", "chat", Box::new(std::io::sink()));
        let m = TurnMetrics {
            input_tokens: 120,
            output_tokens: 33,
            model_latency: Duration::from_millis(850),
            retrieval_latency: Some(Duration::from_micros(12_500)),
            handler_overhead: Duration::from_micros(1_234),
            key_service_requests: 2,
            history_items_skipped: 1,
        };
        let v: Value = serde_json::from_str(&sink.turn_line(&m, 1_700_000_000_000)).unwrap();
        let aws = &v["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000i64);
        let def = &aws["CloudWatchMetrics"][0];
        assert_eq!(def["Namespace"], "Chatbot");
        assert_eq!(def["Dimensions"], json!([["Environment", "Function"]]));
        for metric in def["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(v.get(name).is_some(), "{name} declared but missing");
        }
        assert_eq!(v["InputTokens"], 120);
        assert_eq!(v["OutputTokens"], 33);
        assert_eq!(v["ModelLatency"], 850.0);
        assert_eq!(v["RetrievalLatency"], 12.5);
        assert_eq!(v["HandlerOverhead"], 1.234);
        assert_eq!(v["KmsRequests"], 2);
        assert_eq!(v["HistoryItemsSkipped"], 1);
        assert_eq!(v["Environment"], "dev");
        assert_eq!(v["Function"], "chat");
    }

    #[test]
    fn retrieval_latency_is_left_out_when_rag_is_off() {
        let sink = EmfMetrics::to_writer("dev", "chat", Box::new(std::io::sink()));
        let m = TurnMetrics {
            input_tokens: 1,
            output_tokens: 1,
            model_latency: Duration::ZERO,
            retrieval_latency: None,
            handler_overhead: Duration::ZERO,
            key_service_requests: 0,
            history_items_skipped: 0,
        };
        let v: Value = serde_json::from_str(&sink.turn_line(&m, 0)).unwrap();
        assert!(v.get("RetrievalLatency").is_none());
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn ingest_line_carries_the_chunk_count_under_the_shared_dimensions() {
        let emf = EmfMetrics::to_writer("dev", "ingest", Box::new(std::io::sink()));
        let line: Value = serde_json::from_str(&emf.ingest_line(
            &IngestMetrics { chunks: 42, bytes_written: 180_000, duration: Duration::from_millis(900) },
            1_700_000_000_000,
        ))
        .unwrap();
        assert_eq!(line["IngestedChunks"], 42);
        assert_eq!(line["VectorBytesWritten"], 180_000);
        assert_eq!(line["Function"], "ingest");
        let decl = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "Chatbot");
        assert_eq!(decl["Dimensions"], json!([["Environment", "Function"]]));
        assert_eq!(
            decl["Metrics"],
            json!([{"Name": "IngestedChunks", "Unit": "Count"}, {"Name": "VectorBytesWritten", "Unit": "Bytes"}])
        );
    }
}
