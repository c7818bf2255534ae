//! The ingestion Lambda: S3 document events (via EventBridge) become chunks in the vector index.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod wiring;

use std::process::ExitCode;
use std::sync::Arc;

use chatbot_core::config::RagConfig;
use chatbot_core::domain::document_event::parse_event;
use chatbot_core::extract_worker;
use chatbot_core::handlers::ingest::{IngestApp, handle_events, lambda_result};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> Result<ExitCode, Error> {
    // Each document is read by this executable re-invoked as a worker, before any runtime.
    if extract_worker::requested() {
        return Ok(extract_worker::run());
    }
    serve().map(|()| ExitCode::SUCCESS)
}

#[tokio::main]
async fn serve() -> Result<(), Error> {
    chatbot_core::telemetry::init_json_logs();
    let config = RagConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let app = Arc::new(wiring::ingest_app(&config, &aws)?);
    tracing::info!(environment = %config.environment, model = %config.embedding_model_id, "ingest Lambda ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handle(app.clone(), event))).await
}

async fn handle(app: Arc<IngestApp>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let events =
        parse_event(&event.payload).inspect_err(|e| tracing::error!(error = %e, "unreadable event"))?;
    let reports = handle_events(&app, &events).await;
    Ok(lambda_result(&reports)?)
}
