//! The chat Lambda: `POST /chat` and `GET /health` behind API Gateway's HTTP API.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod gateway;
mod wiring;

use std::sync::Arc;

use chatbot_core::config::ChatConfig;
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    chatbot_core::telemetry::init_json_logs();
    let config = ChatConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let app = Arc::new(wiring::chat_app(&config, &aws).await?);
    tracing::info!(model = %config.model_id, environment = %config.environment, "chat Lambda ready");
    lambda_http::run(service_fn(move |req| gateway::handle(app.clone(), req))).await
}
