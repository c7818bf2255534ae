//! Metrics as CloudWatch Embedded Metric Format lines.
//!
//! Lambda ships stdout to CloudWatch Logs, which extracts EMF lines into metrics: no
//! PutMetricData call, so no latency or cost on the request path.

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::ports::{MetricsSink, TurnMetrics};

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

    /// One EMF document for a chat turn.
    pub fn turn_line(&self, m: &TurnMetrics, timestamp_ms: i64) -> String {
        let mut defs = vec![
            json!({"Name": "InputTokens", "Unit": "Count"}),
            json!({"Name": "OutputTokens", "Unit": "Count"}),
            json!({"Name": "ModelLatency", "Unit": "Milliseconds"}),
            json!({"Name": "HandlerOverhead", "Unit": "Milliseconds"}),
        ];
        let mut doc = Map::new();
        doc.insert("Environment".into(), Value::from(self.environment.as_str()));
        doc.insert("Function".into(), Value::from(self.function.as_str()));
        doc.insert("InputTokens".into(), Value::from(m.input_tokens));
        doc.insert("OutputTokens".into(), Value::from(m.output_tokens));
        doc.insert("ModelLatency".into(), Value::from(ms(m.model_latency)));
        doc.insert("HandlerOverhead".into(), Value::from(ms(m.handler_overhead)));
        if let Some(r) = m.retrieval_latency {
            defs.push(json!({"Name": "RetrievalLatency", "Unit": "Milliseconds"}));
            doc.insert("RetrievalLatency".into(), Value::from(ms(r)));
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
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

#[async_trait]
impl MetricsSink for EmfMetrics {
    async fn record_turn(&self, metrics: &TurnMetrics) {
        let now_ms = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let line = self.turn_line(metrics, now_ms);
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Losing a metric line must never fail a chat turn.
        if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
            tracing::warn!(error = %e, "could not write an EMF metrics line");
        }
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
        };
        let v: Value = serde_json::from_str(&sink.turn_line(&m, 0)).unwrap();
        assert!(v.get("RetrievalLatency").is_none());
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len(), 4);
    }
}
