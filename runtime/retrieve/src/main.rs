//! The retrieval Lambda: `{query, k}` in, the nearest chunks above the score floor out.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::sync::Arc;

use chatbot_core::aws::titan::{ONE_AT_A_TIME, TitanEmbedder};
use chatbot_core::aws::vector_store;
use chatbot_core::config::RagConfig;
use chatbot_core::domain::api::{RetrieveRequest, RetrieveResponse};
use chatbot_core::handlers::retrieve::{RetrieveApp, RetrieveSettings, retrieve};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    chatbot_core::telemetry::init_json_logs();
    let config = RagConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let bedrock = aws_sdk_bedrockruntime::Client::new(&aws);
    let app = Arc::new(RetrieveApp {
        embedder: Arc::new(TitanEmbedder::new(
            bedrock,
            &config.embedding_model_id,
            config.embedding_dimensions,
            ONE_AT_A_TIME,
        )),
        index: vector_store::open(&config, &aws)?,
        settings: RetrieveSettings { score_floor: config.score_floor },
    });
    tracing::info!(environment = %config.environment, "retrieve Lambda ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<RetrieveRequest>| {
        let app = app.clone();
        async move { retrieve(&app, &event.payload).await.map_err(Error::from) as Result<RetrieveResponse, Error> }
    }))
    .await
}
