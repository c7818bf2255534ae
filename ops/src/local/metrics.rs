//! The local target's metrics: what AWS would publish for the deployed stack, published to the
//! emulator's CloudWatch under the same namespaces, names and dimensions, so that
//! `opsctl dashboard` and `opsctl alarms` read the local target as they read AWS.
//!
//! - `AWS/Lambda` Invocations, Errors, Duration per `FunctionName`, for the handlers the gateway
//!   runs in place of the chat, ingest and retrieve Lambdas. As on AWS, Errors counts failed
//!   invocations (an ingest event Lambda would retry), not error replies.
//! - `AWS/Lambda` UrlRequestCount, Url4xxCount, Url5xxCount, UrlRequestLatency per the chat
//!   function's `FunctionName`, for the chat API's requests: on AWS the API is that function's URL.
//! - `Chatbot` tokens, latencies and skipped history items per `Environment` and `Function`: the
//!   names the Lambdas emit as EMF ([`chatbot_core::aws::emf`]), which CloudWatch turns into
//!   these metrics on AWS.
//!
//! Data points are buffered and sent in batches by [`LocalMetrics::spawn_publisher`]; a failed
//! batch is kept for the next attempt, up to a bound, so a busy emulator delays metrics rather
//! than losing them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chatbot_core::aws::emf::NAMESPACE;
use chatbot_core::domain::prompt::RetrievedChunk;
use chatbot_core::ports::{IngestMetrics, MetricsSink, RagError, Retriever, TurnMetrics};

use crate::functions::Function;

/// PutMetricData takes up to 1,000 data points per call; half keeps requests well under 1 MB.
const BATCH: usize = 500;
/// Beyond this many unsent points (the emulator down for a long time) the oldest are dropped.
const MAX_PENDING: usize = 50_000;

pub struct LocalMetrics {
    environment: String,
    /// Each point with its namespace, which PutMetricData takes per call rather than per point.
    pending: Mutex<Vec<(&'static str, MetricDatum)>>,
}

impl LocalMetrics {
    pub fn new(environment: &str) -> Arc<Self> {
        Arc::new(Self { environment: environment.to_owned(), pending: Mutex::default() })
    }

    /// One invocation of a function the gateway runs in place of its Lambda.
    pub fn lambda(&self, function: Function, duration: Duration, failed: bool) {
        let dims = function.dims(&self.environment);
        self.push(
            "AWS/Lambda",
            vec![
                datum("Invocations", 1.0, StandardUnit::Count, &dims),
                datum("Errors", if failed { 1.0 } else { 0.0 }, StandardUnit::Count, &dims),
                datum("Duration", ms(duration), StandardUnit::Milliseconds, &dims),
            ],
        );
    }

    /// One request through the chat API, as Lambda counts it for the chat function's URL.
    pub fn api(&self, status: u16, latency: Duration) {
        // Lambda dimensions a function URL's metrics by the function behind it, as its invocations.
        let dims = Function::Chat.dims(&self.environment);
        let class = |c: u16| if status / 100 == c { 1.0 } else { 0.0 };
        self.push(
            "AWS/Lambda",
            vec![
                datum("UrlRequestCount", 1.0, StandardUnit::Count, &dims),
                datum("Url4xxCount", class(4), StandardUnit::Count, &dims),
                datum("Url5xxCount", class(5), StandardUnit::Count, &dims),
                datum("UrlRequestLatency", ms(latency), StandardUnit::Milliseconds, &dims),
            ],
        );
    }

    fn push(&self, namespace: &'static str, data: Vec<MetricDatum>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.extend(data.into_iter().map(|d| (namespace, d)));
        if pending.len() > MAX_PENDING {
            let excess = pending.len() - MAX_PENDING;
            pending.drain(..excess);
        }
    }

    /// Sends every buffered point; on failure the unsent ones stay buffered.
    pub async fn flush(&self, client: &aws_sdk_cloudwatch::Client) -> Result<usize, String> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut batches: Vec<(&'static str, Vec<MetricDatum>)> = Vec::new();
        for namespace in ["AWS/Lambda", NAMESPACE] {
            let points: Vec<MetricDatum> =
                taken.iter().filter(|(ns, _)| *ns == namespace).map(|(_, d)| d.clone()).collect();
            batches.extend(points.chunks(BATCH).map(|b| (namespace, b.to_vec())));
        }
        let mut sent = 0;
        for (i, (namespace, batch)) in batches.iter().enumerate() {
            let call = client
                .put_metric_data()
                .namespace(*namespace)
                .set_metric_data(Some(batch.clone()))
                .send()
                .await;
            if let Err(e) = call {
                // Keep what was not sent ahead of what arrived meanwhile.
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let newer = std::mem::take(&mut *pending);
                pending.extend(batches[i..].iter().flat_map(|(ns, b)| b.iter().map(|d| (*ns, d.clone()))));
                pending.extend(newer);
                return Err(aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string());
            }
            sent += batch.len();
        }
        Ok(sent)
    }

    /// Flushes every `interval` until the returned handle is aborted; callers flush once more
    /// at shutdown.
    pub fn spawn_publisher(
        self: Arc<Self>,
        client: aws_sdk_cloudwatch::Client,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.flush(&client).await {
                    tracing::warn!(error = %e, "could not publish metrics to the emulator; will retry");
                }
            }
        })
    }

    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn handler_metric(&self, function: &str, name: &str, value: f64, unit: StandardUnit) -> MetricDatum {
        let dims = [("Environment", self.environment.clone()), ("Function", function.to_owned())];
        datum(name, value, unit, &dims)
    }
}

#[async_trait]
impl MetricsSink for LocalMetrics {
    async fn record_turn(&self, m: &TurnMetrics) {
        let mut data = vec![
            self.handler_metric(
                Function::Chat.name(),
                "InputTokens",
                f64::from(m.input_tokens),
                StandardUnit::Count,
            ),
            self.handler_metric(
                Function::Chat.name(),
                "OutputTokens",
                f64::from(m.output_tokens),
                StandardUnit::Count,
            ),
            self.handler_metric(
                Function::Chat.name(),
                "ModelLatency",
                ms(m.model_latency),
                StandardUnit::Milliseconds,
            ),
            self.handler_metric(
                "chat",
                "HandlerOverhead",
                ms(m.handler_overhead),
                StandardUnit::Milliseconds,
            ),
            self.handler_metric(
                "chat",
                "KmsRequests",
                f64::from(m.key_service_requests),
                StandardUnit::Count,
            ),
            self.handler_metric(
                "chat",
                "HistoryItemsSkipped",
                f64::from(m.history_items_skipped),
                StandardUnit::Count,
            ),
        ];
        if let Some(r) = m.retrieval_latency {
            data.push(self.handler_metric(
                Function::Chat.name(),
                "RetrievalLatency",
                ms(r),
                StandardUnit::Milliseconds,
            ));
        }
        self.push(NAMESPACE, data);
    }

    async fn record_ingest(&self, m: &IngestMetrics) {
        self.push(
            NAMESPACE,
            vec![
                self.handler_metric(
                    Function::Ingest.name(),
                    "IngestedChunks",
                    f64::from(m.chunks),
                    StandardUnit::Count,
                ),
                self.handler_metric(
                    Function::Ingest.name(),
                    "VectorBytesWritten",
                    m.bytes_written as f64,
                    StandardUnit::Bytes,
                ),
            ],
        );
    }
}

/// The in-process retriever, counted as the retrieve Lambda it stands in for.
pub struct CountedRetriever {
    pub inner: Arc<dyn Retriever>,
    pub metrics: Arc<LocalMetrics>,
}

#[async_trait]
impl Retriever for CountedRetriever {
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        let started = std::time::Instant::now();
        let span = tracing::info_span!("lambda", function = "retrieve");
        let result = tracing::Instrument::instrument(self.inner.retrieve(query, k), span).await;
        self.metrics.lambda(Function::Retrieve, started.elapsed(), result.is_err());
        result
    }
}

fn datum(name: &str, value: f64, unit: StandardUnit, dims: &[(&str, String)]) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .unit(unit)
        .timestamp(aws_smithy_types::DateTime::from(SystemTime::now()))
        .set_dimensions(Some(
            dims.iter().map(|(n, v)| Dimension::builder().name(*n).value(v).build()).collect(),
        ))
        .build()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn points_carry_the_names_and_dimensions_aws_uses() {
        let m = LocalMetrics::new("dev");
        m.lambda(Function::Chat, Duration::from_millis(12), false);
        m.api(503, Duration::from_millis(15));
        m.record_ingest(&IngestMetrics {
            chunks: 3,
            bytes_written: 12_000,
            duration: Duration::from_millis(5),
        })
        .await;
        let (namespaces, pending): (Vec<&str>, Vec<MetricDatum>) =
            m.pending.lock().unwrap().iter().cloned().unzip();
        let names: Vec<(&str, &str)> =
            namespaces.iter().zip(&pending).map(|(ns, d)| (*ns, d.metric_name().unwrap())).collect();
        assert_eq!(
            names,
            [
                ("AWS/Lambda", "Invocations"),
                ("AWS/Lambda", "Errors"),
                ("AWS/Lambda", "Duration"),
                ("AWS/Lambda", "UrlRequestCount"),
                ("AWS/Lambda", "Url4xxCount"),
                ("AWS/Lambda", "Url5xxCount"),
                ("AWS/Lambda", "UrlRequestLatency"),
                ("Chatbot", "IngestedChunks"),
                ("Chatbot", "VectorBytesWritten"),
            ]
        );
        assert_eq!(pending[8].value(), Some(12_000.0));
        assert_eq!(pending[0].dimensions()[0].value(), Some("chatbot-chat-dev"));
        let url: Vec<_> =
            pending[3].dimensions().iter().map(|d| (d.name().unwrap(), d.value().unwrap())).collect();
        assert_eq!(url, [("FunctionName", "chatbot-chat-dev")], "the URL's metrics are the chat function's");
        assert_eq!(pending[5].value(), Some(1.0), "a 503 counts as a 5xx");
        assert_eq!(pending[4].value(), Some(0.0));
        let dims: Vec<_> =
            pending[7].dimensions().iter().map(|d| (d.name().unwrap(), d.value().unwrap())).collect();
        assert_eq!(dims, [("Environment", "dev"), ("Function", "ingest")]);
    }

    #[tokio::test]
    async fn a_turn_publishes_its_skipped_history_items_as_the_lambda_emits_them() {
        let m = LocalMetrics::new("dev");
        let turn = TurnMetrics {
            input_tokens: 1,
            output_tokens: 1,
            model_latency: Duration::ZERO,
            retrieval_latency: None,
            handler_overhead: Duration::ZERO,
            key_service_requests: 0,
            history_items_skipped: 1,
        };
        m.record_turn(&turn).await;
        let pending = m.pending.lock().unwrap();
        let (namespace, skipped) = pending
            .iter()
            .find(|(_, d)| d.metric_name() == Some("HistoryItemsSkipped"))
            .expect("HistoryItemsSkipped is published");
        assert_eq!((*namespace, skipped.value()), ("Chatbot", Some(1.0)));
        let dims: Vec<_> =
            skipped.dimensions().iter().map(|d| (d.name().unwrap(), d.value().unwrap())).collect();
        assert_eq!(dims, [("Environment", "dev"), ("Function", "chat")]);
    }
}
