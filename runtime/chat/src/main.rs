//! The chat Lambda: the chat API, streamed through its function URL (InvokeMode RESPONSE_STREAM).

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
    // Every response goes through the streaming runner, JSON ones too: ReplyBody writes a whole
    // body as one chunk, so a buffered reply never comes back empty.
    lambda_http::run_with_streaming_response(service_fn(move |req| gateway::handle(app.clone(), req))).await
}
