//! Bedrock's Converse API as the [`ChatModel`]: `Converse` for a whole reply, `ConverseStream`
//! for a streamed one (see [`stream`]).

mod stream;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, StopReason, SystemContentBlock,
};

use crate::domain::api::Usage;
use crate::domain::message::Role;
use crate::domain::prompt::Prompt;
use crate::ports::{ChatModel, ModelError, ModelReply, ModelStream};

/// Claude Sonnet 4.6 through the US cross-Region inference profile. Other geographies use their
/// own prefix (`eu.`, `jp.`, `global.`); set `MODEL_ID` to choose.
pub const DEFAULT_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-6";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// How long callers are told to wait. The SDK has already retried with backoff by the time an
/// error reaches us, so these are the pauses after which a retry has a fair chance.
pub const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(5);
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The IAM actions named in the access-denied guidance: each API has its own.
const CONVERSE_ACTION: &str = "bedrock:InvokeModel";
const CONVERSE_STREAM_ACTION: &str = "bedrock:InvokeModelWithResponseStream";

pub struct BedrockChatModel {
    client: Client,
    model_id: String,
    max_tokens: u32,
}

impl BedrockChatModel {
    pub fn new(client: Client, model_id: impl Into<String>, max_tokens: u32) -> Self {
        Self { client, model_id: model_id.into(), max_tokens }
    }

    /// Both APIs take the same inference settings.
    fn inference_config(&self) -> InferenceConfiguration {
        InferenceConfiguration::builder()
            .max_tokens(i32::try_from(self.max_tokens).unwrap_or(i32::MAX))
            .build()
    }

    fn warn_if_cut(&self, stop_reason: &StopReason) {
        if matches!(stop_reason, StopReason::MaxTokens) {
            tracing::warn!(model = %self.model_id, max_tokens = self.max_tokens, "reply cut at max_tokens");
        }
    }
}

/// The prompt's turns as Converse messages, shared by both APIs so they send the same request.
fn messages(prompt: &Prompt) -> Result<Vec<Message>, ModelError> {
    prompt.parts().into_iter().map(|(role, parts)| to_message(role, &parts)).collect()
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

/// Why a reply without any text is refused, for both APIs: storing an empty answer would hide
/// the failure from the caller.
fn no_text(stop_reason: &str) -> ModelError {
    ModelError::Failed { reason: format!("model returned no text (stop reason {stop_reason})") }
}

#[async_trait]
impl ChatModel for BedrockChatModel {
    fn id(&self) -> &str {
        &self.model_id
    }

    async fn complete(&self, prompt: &Prompt) -> Result<ModelReply, ModelError> {
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(prompt.system.clone()))
            .set_messages(Some(messages(prompt)?))
            .inference_config(self.inference_config())
            .send()
            .await
            .map_err(|e| classify(&self.model_id, CONVERSE_ACTION, e))?;

        let text = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content().iter().filter_map(|b| b.as_text().ok().map(String::as_str)).collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .join("");
        self.warn_if_cut(out.stop_reason());
        if text.is_empty() {
            return Err(no_text(out.stop_reason().as_str()));
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

    /// `ConverseStream` with the very request `complete()` sends. A failed `send()` (throttling,
    /// access, validation) comes back here, classified as `complete()` classifies it; a failure
    /// after that is an item of the stream.
    async fn stream(&self, prompt: &Prompt) -> Result<ModelStream, ModelError> {
        let out = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(prompt.system.clone()))
            .set_messages(Some(messages(prompt)?))
            .inference_config(self.inference_config())
            .send()
            .await
            .map_err(|e| classify(&self.model_id, CONVERSE_STREAM_ACTION, e))?;
        Ok(stream::events(out.stream, self.model_id.clone(), self.max_tokens))
    }
}

/// What an error of either API means for the caller, read from its modeled variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Throttled,
    Transient,
    AccessDenied,
    NotFound,
    Other,
}

/// The errors of the Converse APIs, sorted by [`Kind`].
trait BedrockError: ProvideErrorMetadata + std::error::Error + 'static {
    fn kind(&self) -> Kind;
}

impl BedrockError for ConverseError {
    fn kind(&self) -> Kind {
        match self {
            Self::ThrottlingException(_) => Kind::Throttled,
            Self::ServiceUnavailableException(_)
            | Self::ModelNotReadyException(_)
            | Self::ModelTimeoutException(_)
            | Self::InternalServerException(_) => Kind::Transient,
            Self::AccessDeniedException(_) => Kind::AccessDenied,
            Self::ResourceNotFoundException(_) => Kind::NotFound,
            _ => Kind::Other,
        }
    }
}

impl BedrockError for ConverseStreamError {
    fn kind(&self) -> Kind {
        match self {
            Self::ThrottlingException(_) => Kind::Throttled,
            // Bedrock's own advice for a stream error is to retry the request.
            Self::ServiceUnavailableException(_)
            | Self::ModelNotReadyException(_)
            | Self::ModelTimeoutException(_)
            | Self::InternalServerException(_)
            | Self::ModelStreamErrorException(_) => Kind::Transient,
            Self::AccessDeniedException(_) => Kind::AccessDenied,
            Self::ResourceNotFoundException(_) => Kind::NotFound,
            _ => Kind::Other,
        }
    }
}

impl BedrockError for ConverseStreamOutputError {
    fn kind(&self) -> Kind {
        match self {
            Self::ThrottlingException(_) => Kind::Throttled,
            Self::ServiceUnavailableException(_)
            | Self::InternalServerException(_)
            | Self::ModelStreamErrorException(_) => Kind::Transient,
            _ => Kind::Other,
        }
    }
}

/// Sorts a failed call into throttled (429), transient (503) or the operator's to fix (502).
/// `action` is the IAM action the call needs, named when access is denied.
fn classify<E: BedrockError>(model_id: &str, action: &str, err: SdkError<E>) -> ModelError {
    let status = match &err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    };
    classify_with_status(model_id, action, &err, status)
}

/// [`classify`] for any raw response: an event of the stream has no HTTP status of its own.
fn classify_with_status<E: BedrockError, R: std::fmt::Debug>(
    model_id: &str,
    action: &str,
    err: &SdkError<E, R>,
    status: Option<u16>,
) -> ModelError {
    let unavailable =
        |reason: String| ModelError::Unavailable { retry_after: UNAVAILABLE_RETRY_AFTER, reason };
    let status = status.unwrap_or(0);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match e.kind() {
                Kind::Throttled => ModelError::Throttled { retry_after: THROTTLED_RETRY_AFTER },
                _ if status == 429 || e.code() == Some("ThrottlingException") => {
                    ModelError::Throttled { retry_after: THROTTLED_RETRY_AFTER }
                }
                Kind::Transient => unavailable(super::describe(err)),
                Kind::AccessDenied => ModelError::Failed {
                    reason: format!(
                        "access denied to model `{model_id}`: enable it under Bedrock model access and \
                         allow {action} on its inference profile and foundation model ({})",
                        e.message().unwrap_or("")
                    ),
                },
                Kind::NotFound => ModelError::Failed {
                    reason: format!(
                        "model `{model_id}` was not found in this region: check MODEL_ID and its region prefix"
                    ),
                },
                _ if status >= 500 => unavailable(super::describe(err)),
                Kind::Other => ModelError::Failed { reason: super::describe(err) },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            unavailable(super::describe(err))
        }
        _ => ModelError::Failed { reason: super::describe(err) },
    }
}
