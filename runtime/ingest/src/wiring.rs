//! Builds the AWS adapters from the configuration, once per cold start.

use std::sync::Arc;

use aws_config::SdkConfig;
use chatbot_core::aws::document_status::DynamoStatuses;
use chatbot_core::aws::emf::EmfMetrics;
use chatbot_core::aws::s3::S3Documents;
use chatbot_core::aws::titan::{DEFAULT_CONCURRENCY, ONE_AT_A_TIME, TitanEmbedder};
use chatbot_core::aws::vector_store;
use chatbot_core::config::{ConfigError, RagConfig};
use chatbot_core::extract_worker::IsolatedExtraction;
use chatbot_core::handlers::ingest::{Extraction, IngestApp, IngestSettings};
use chatbot_core::ports::DocumentStatuses;

pub fn ingest_app(config: &RagConfig, aws: &SdkConfig) -> Result<IngestApp, lambda_runtime::Error> {
    let bucket = config.documents_bucket.clone().ok_or(ConfigError::Missing(vec!["DOCUMENTS_BUCKET"]))?;
    // Uploaded documents are untrusted: each is read by a worker under memory and CPU limits.
    let isolation = IsolatedExtraction::this_executable()
        .map_err(|e| format!("finding the running executable, which reads each document as a worker: {e}"))?;
    let settings = IngestSettings {
        concurrency: DEFAULT_CONCURRENCY,
        extraction: Extraction::Isolated(isolation),
        ..IngestSettings::default()
    };
    let index = vector_store::open(config, aws)?;
    Ok(IngestApp {
        documents: Arc::new(S3Documents::new(
            aws_sdk_s3::Client::new(aws),
            bucket,
            settings.limits.max_bytes,
        )),
        embedder: Arc::new(TitanEmbedder::new(
            aws_sdk_bedrockruntime::Client::new(aws),
            &config.embedding_model_id,
            config.embedding_dimensions,
            ONE_AT_A_TIME,
        )),
        index,
        metrics: Arc::new(EmfMetrics::stdout(&config.environment, "ingest")),
        settings,
        // Each document's status, for the documents API, beside the conversations.
        statuses: config.status_table.as_ref().map(|table| {
            Arc::new(DynamoStatuses::new(aws_sdk_dynamodb::Client::new(aws), table))
                as Arc<dyn DocumentStatuses>
        }),
    })
}
