//! Bedrock model access, checked with the smallest real call the chatbot makes: a one-word
//! Converse with `maxTokens: 1` to the chat model, and with RAG one Titan embedding of a word at
//! the configured dimensions. A model the account has no access to fails here, not as the first
//! chat's 502.

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, InferenceConfiguration, Message};

use super::{Check, names};

/// The inference profile prefixes, by geography: a profile of another geography is refused.
pub const PROFILE_PREFIXES: &str = "us., eu., apac., jp., au., ca. or global.";

pub async fn chat_model(client: &Client, model_id: &str, region: &str) -> Check {
    let message =
        Message::builder().role(ConversationRole::User).content(ContentBlock::Text("ping".into())).build();
    let message = match message {
        Ok(m) => m,
        Err(e) => return Check::fail(names::CHAT_MODEL, format!("could not build the request: {e}"), None),
    };
    let sent = client
        .converse()
        .model_id(model_id)
        .messages(message)
        .inference_config(InferenceConfiguration::builder().max_tokens(1).build())
        .send()
        .await;
    match sent {
        Ok(out) => {
            let tokens = out.usage().map(|u| u.total_tokens()).unwrap_or_default();
            Check::pass(
                names::CHAT_MODEL,
                format!("{model_id} answered a one-token Converse ({tokens} tokens)"),
            )
        }
        Err(e) => failed(names::CHAT_MODEL, "ChatModelId", model_id, region, &e),
    }
}

pub async fn embedding_model(client: &Client, model_id: &str, dimensions: &str, region: &str) -> Check {
    let name = names::EMBEDDING_MODEL;
    let Ok(dims) = dimensions.parse::<usize>() else {
        return Check::fail(
            name,
            format!("EmbeddingDimensions is {dimensions:?}, not a number"),
            Some("pass --param EmbeddingDimensions=256, 512 or 1024".into()),
        );
    };
    let body = serde_json::json!({"inputText": "ping", "dimensions": dims, "normalize": true});
    let sent = client
        .invoke_model()
        .model_id(model_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body.to_string()))
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(e) => return failed(name, "EmbeddingModelId", model_id, region, &e),
    };
    let got = serde_json::from_slice::<serde_json::Value>(out.body().as_ref())
        .ok()
        .and_then(|v| v["embedding"].as_array().map(Vec::len));
    match got {
        Some(n) if n == dims => Check::pass(name, format!("{model_id} embedded a word in {dims} dimensions")),
        Some(n) => Check::fail(
            name,
            format!("{model_id} returned {n} dimensions, the stack expects {dims}"),
            Some(
                "set --param EmbeddingDimensions to one the model supports (Titan v2: 256, 512, 1024)".into(),
            ),
        ),
        None => Check::fail(
            name,
            format!("{model_id} answered without an embedding"),
            Some("EmbeddingModelId must be a Titan text embedding model".into()),
        ),
    }
}

/// A failed call, sorted into what the operator should do. Throttling and a busy service say
/// nothing about access, so they warn; everything else fails.
fn failed<E, R>(
    name: &'static str,
    parameter: &str,
    model_id: &str,
    region: &str,
    err: &SdkError<E, R>,
) -> Check
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let Some(service) = err.as_service_error() else {
        let text = format!(
            "could not reach Bedrock: {}",
            aws_smithy_types::error::display::DisplayErrorContext(err)
        );
        let hint = crate::errors::hint(&text);
        return Check::fail(name, text, hint);
    };
    let code = service.code().unwrap_or("unknown error");
    let message = service.message().unwrap_or_default();
    let detail = format!("{model_id}: {code}: {message}");
    let lower = message.to_lowercase();
    match code {
        "AccessDeniedException" if lower.contains("not authorized to perform") => Check::fail(
            name,
            detail,
            Some(format!(
                "allow your identity bedrock:InvokeModel on {model_id} (its inference profile and the \
                 foundation models it routes to)"
            )),
        ),
        "AccessDeniedException" => Check::fail(
            name,
            detail,
            Some(format!(
                "enable access to this model in the Bedrock console of {region} (Model access); Anthropic \
                 models also ask for the use-case form there"
            )),
        ),
        "ValidationException" if lower.contains("on-demand throughput") => Check::fail(
            name,
            detail,
            Some(format!(
                "this model is served through an inference profile: use its profile id with the prefix of \
                 your geography ({PROFILE_PREFIXES}), e.g. --param {parameter}=us.{model_id}"
            )),
        ),
        "ValidationException" | "ResourceNotFoundException" if lower.contains("use case") => Check::fail(
            name,
            detail,
            Some(format!("submit the model's use-case form in the Bedrock console of {region}")),
        ),
        "ValidationException" | "ResourceNotFoundException" => Check::fail(
            name,
            detail,
            Some(format!(
                "check {parameter}: it must be a model or inference profile offered in {region}; outside \
                 the US use the profile of your geography ({PROFILE_PREFIXES}), \
                 e.g. --param {parameter}=eu.anthropic.claude-sonnet-4-6"
            )),
        ),
        "ThrottlingException" | "ServiceQuotaExceededException" => Check::warn(
            name,
            format!("{detail} (access not confirmed)"),
            Some(
                "Bedrock throttled even a one-token call: see the model-quota check, or retry in a minute"
                    .into(),
            ),
        ),
        "ServiceUnavailableException"
        | "ModelNotReadyException"
        | "InternalServerException"
        | "ModelTimeoutException" => Check::warn(
            name,
            format!("{detail} (access not confirmed)"),
            Some("Bedrock is busy or starting the model: retry in a minute".into()),
        ),
        _ => Check::fail(name, detail, crate::errors::hint(code)),
    }
}
