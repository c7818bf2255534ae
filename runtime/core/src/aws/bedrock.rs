//! Bedrock's Converse API as the [`ChatModel`].

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, StopReason, SystemContentBlock,
};

use crate::domain::api::Usage;
use crate::domain::message::Role;
use crate::domain::prompt::Prompt;
use crate::ports::{ChatModel, ModelError, ModelReply};

/// Claude Sonnet 4.6 through the US cross-Region inference profile. Other geographies use their
/// own prefix (`eu.`, `jp.`, `global.`); set `MODEL_ID` to choose.
pub const DEFAULT_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-6";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// How long callers are told to wait. The SDK has already retried with backoff by the time an
/// error reaches us, so these are the pauses after which a retry has a fair chance.
pub const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(5);
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(10);

pub struct BedrockChatModel {
    client: Client,
    model_id: String,
    max_tokens: u32,
}

impl BedrockChatModel {
    pub fn new(client: Client, model_id: impl Into<String>, max_tokens: u32) -> Self {
        Self { client, model_id: model_id.into(), max_tokens }
    }
}

/// One turn; each part (the documents block, then the text) is a content block of its own.
fn to_message(role: Role, parts: &[&str]) -> Result<Message, ModelError> {
    let role = match role {
        Role::User => ConversationRole::User,
        Role::Assistant => ConversationRole::Assistant,
    };
    let content = parts.iter().map(|p| ContentBlock::Text((*p).to_owned())).collect();
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(|e| ModelError::Failed { reason: format!("could not build the Converse request: {e}") })
}

#[async_trait]
impl ChatModel for BedrockChatModel {
    fn id(&self) -> &str {
        &self.model_id
    }

    async fn complete(&self, prompt: &Prompt) -> Result<ModelReply, ModelError> {
        let messages = prompt
            .parts()
            .into_iter()
            .map(|(role, parts)| to_message(role, &parts))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(prompt.system.clone()))
            .set_messages(Some(messages))
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(self.max_tokens).unwrap_or(i32::MAX))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(&self.model_id, e))?;

        let text = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content().iter().filter_map(|b| b.as_text().ok().map(String::as_str)).collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .join("");
        if matches!(out.stop_reason(), StopReason::MaxTokens) {
            tracing::warn!(model = %self.model_id, max_tokens = self.max_tokens, "reply cut at max_tokens");
        }
        if text.is_empty() {
            return Err(ModelError::Failed {
                reason: format!("model returned no text (stop reason {})", out.stop_reason().as_str()),
            });
        }
        let usage = out
            .usage()
            .map(|u| Usage {
                input_tokens: u32::try_from(u.input_tokens()).unwrap_or(0),
                output_tokens: u32::try_from(u.output_tokens()).unwrap_or(0),
            })
            .unwrap_or_default();
        Ok(ModelReply { text, model: self.model_id.clone(), usage })
    }
}

/// Sorts a failed call into throttled (429), transient (503) or the operator's to fix (502).
fn classify(model_id: &str, err: SdkError<ConverseError>) -> ModelError {
    let unavailable =
        |reason: String| ModelError::Unavailable { retry_after: UNAVAILABLE_RETRY_AFTER, reason };
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let e = se.err();
            match e {
                ConverseError::ThrottlingException(_) => {
                    ModelError::Throttled { retry_after: THROTTLED_RETRY_AFTER }
                }
                _ if status == 429 || e.code() == Some("ThrottlingException") => {
                    ModelError::Throttled { retry_after: THROTTLED_RETRY_AFTER }
                }
                ConverseError::ServiceUnavailableException(_)
                | ConverseError::ModelNotReadyException(_)
                | ConverseError::ModelTimeoutException(_)
                | ConverseError::InternalServerException(_) => unavailable(super::describe(&err)),
                ConverseError::AccessDeniedException(_) => ModelError::Failed {
                    reason: format!(
                        "access denied to model `{model_id}`: enable it under Bedrock model access and \
                         allow bedrock:InvokeModel on its inference profile and foundation model ({})",
                        e.message().unwrap_or("")
                    ),
                },
                ConverseError::ResourceNotFoundException(_) => ModelError::Failed {
                    reason: format!(
                        "model `{model_id}` was not found in this region: check MODEL_ID and its region prefix"
                    ),
                },
                _ if status >= 500 => unavailable(super::describe(&err)),
                _ => ModelError::Failed { reason: super::describe(&err) },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            unavailable(super::describe(&err))
        }
        _ => ModelError::Failed { reason: super::describe(&err) },
    }
}
