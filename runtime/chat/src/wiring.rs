//! Builds the AWS adapters from the configuration, once per cold start.

use std::sync::Arc;

use aws_config::SdkConfig;
use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::aws::bedrock::BedrockChatModel;
use chatbot_core::aws::document_status::DynamoStatuses;
use chatbot_core::aws::dynamodb::{DynamoConversationStore, retention_days};
use chatbot_core::aws::emf::EmfMetrics;
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::aws::retriever::LambdaRetriever;
use chatbot_core::aws::s3_library::{S3Library, bucket_origin};
use chatbot_core::aws::ssm::SsmParameter;
use chatbot_core::config::{AuthConfig, ChatConfig};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::handlers::documents::Documents;
use chatbot_core::handlers::{ChatApp, ChatSettings};
use chatbot_core::ports::{Retriever, SecretError};
use chatbot_core::web::WebSettings;

pub async fn chat_app(config: &ChatConfig, aws: &SdkConfig) -> Result<ChatApp, SecretError> {
    let auth = match &config.auth {
        AuthConfig::Token { parameter } => {
            let source = Arc::new(SsmParameter::new(aws_sdk_ssm::Client::new(aws), parameter));
            Authenticator::Token(TokenAuthenticator::load(source).await.inspect_err(|e| {
                tracing::error!(error = %e, "cannot read the API token; create it with `opsctl deploy` or `opsctl token rotate`")
            })?)
        }
        AuthConfig::Disabled => {
            tracing::warn!("AUTH_MODE=none: the chat API accepts requests without a token");
            Authenticator::Disabled
        }
    };
    let retention = retention_days(config.retention_days);
    let keys = KmsDataKeys::new(aws_sdk_kms::Client::new(aws), &config.kms_key_id, &config.environment);
    // Messages, idempotency records and sign-in codes share the conversations table.
    let table = Arc::new(DynamoConversationStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        &config.table_name,
        retention,
    ));
    Ok(ChatApp {
        store: table.clone(),
        idempotency: table.clone(),
        // Every container must see a code another one minted: they live in the table.
        sign_in_codes: table,
        cipher: Arc::new(EnvelopeCipher::new(keys)),
        model: Arc::new(BedrockChatModel::new(
            aws_sdk_bedrockruntime::Client::new(aws),
            &config.model_id,
            config.max_tokens,
        )),
        documents: documents(config, aws),
        // RAG is on exactly when the stack passes the retrieval Lambda's name.
        retriever: config.retrieval_function.as_ref().map(|name| {
            Arc::new(LambdaRetriever::new(aws_sdk_lambda::Client::new(aws), name)) as Arc<dyn Retriever>
        }),
        metrics: Arc::new(EmfMetrics::stdout(&config.environment, "chat")),
        auth,
        settings: ChatSettings {
            history_length: config.history_length,
            history_tokens: config.history_tokens,
            idempotency_lease: std::time::Duration::from_secs(config.idempotency_lease_seconds.into()),
            web: web_settings(documents_bucket(config), aws.region().map(|r| r.as_ref())),
            ..ChatSettings::default()
        },
    })
}

/// The documents API, with RAG on: the bucket the stack names, and the status records
/// ingestion writes beside the conversations.
fn documents(config: &ChatConfig, aws: &SdkConfig) -> Option<Documents> {
    let bucket = documents_bucket(config)?;
    Some(Documents {
        library: Arc::new(S3Library::new(aws_sdk_s3::Client::new(aws), bucket)),
        statuses: Arc::new(DynamoStatuses::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name)),
    })
}

fn documents_bucket(config: &ChatConfig) -> Option<&str> {
    config.documents_bucket.as_deref().filter(|_| config.retrieval_function.is_some())
}

/// The page may also connect to the documents bucket, which uploads go straight to; the app is
/// served over HTTPS, so HSTS applies.
fn web_settings(documents_bucket: Option<&str>, region: Option<&str>) -> WebSettings {
    let connect_sources = match (documents_bucket, region) {
        (Some(bucket), Some(region)) => vec![bucket_origin(bucket, region)],
        _ => Vec::new(),
    };
    WebSettings { connect_sources, hsts: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_may_reach_the_documents_bucket_only_when_uploads_go_there() {
        let on = web_settings(Some("chatbot-docs-dev-1"), Some("eu-west-1"));
        assert_eq!(on.connect_sources, ["https://chatbot-docs-dev-1.s3.eu-west-1.amazonaws.com"]);
        assert!(on.hsts);
        let csp = chatbot_core::web::content_security_policy(&on);
        assert!(
            csp.contains("connect-src 'self' https://chatbot-docs-dev-1.s3.eu-west-1.amazonaws.com;"),
            "{csp}"
        );
        assert!(web_settings(None, Some("eu-west-1")).connect_sources.is_empty());
    }
}
