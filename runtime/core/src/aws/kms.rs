//! KMS as the data-key provider of the envelope cipher.
//!
//! Every call carries the encryption context `{app: chatbot, env}`: a wrapped key made for one
//! environment cannot be unwrapped by another, and CloudTrail shows which one asked.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use crate::ports::{CipherError, DataKey, DataKeyProvider, KeyBytes};

#[derive(Clone)]
pub struct KmsDataKeys {
    client: Client,
    key_id: String,
    context: HashMap<String, String>,
}

impl KmsDataKeys {
    pub fn new(client: Client, key_id: impl Into<String>, environment: &str) -> Self {
        let context = HashMap::from([
            ("app".to_owned(), "chatbot".to_owned()),
            ("env".to_owned(), environment.to_owned()),
        ]);
        Self { client, key_id: key_id.into(), context }
    }
}

fn key_service_error<E>(operation: &'static str, err: aws_sdk_kms::error::SdkError<E>) -> CipherError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let reason = match err.as_service_error().and_then(|e| e.code()) {
        Some("InvalidCiphertextException") => {
            "InvalidCiphertextException: the wrapped key belongs to another key or encryption context"
                .to_owned()
        }
        Some(code) => format!("{code}: {}", err.as_service_error().and_then(|e| e.message()).unwrap_or("")),
        None => super::describe(&err),
    };
    CipherError::KeyService { operation, reason }
}

/// Takes the plaintext key out of the SDK's output by value, so the only copy left behind is
/// wiped when it drops.
fn to_key(blob: Blob, operation: &'static str) -> Result<KeyBytes, CipherError> {
    let bytes = Zeroizing::new(blob.into_inner());
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != key.len() {
        return Err(CipherError::KeyService {
            operation,
            reason: format!("expected a 32-byte AES-256 key, got {} bytes", bytes.len()),
        });
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[async_trait]
impl DataKeyProvider for KmsDataKeys {
    async fn generate(&self) -> Result<DataKey, CipherError> {
        let mut out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(self.context.clone()))
            .send()
            .await
            .map_err(|e| key_service_error("generate", e))?;
        let missing = |what: &str| CipherError::KeyService {
            operation: "generate",
            reason: format!("GenerateDataKey returned no {what}"),
        };
        let plaintext = out.plaintext.take().ok_or_else(|| missing("plaintext"))?;
        let wrapped = out.ciphertext_blob.take().ok_or_else(|| missing("ciphertext blob"))?;
        Ok(DataKey { plaintext: to_key(plaintext, "generate")?, wrapped: wrapped.into_inner() })
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<KeyBytes, CipherError> {
        let mut out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(self.context.clone()))
            .send()
            .await
            .map_err(|e| key_service_error("unwrap", e))?;
        let plaintext = out.plaintext.take().ok_or_else(|| CipherError::KeyService {
            operation: "unwrap",
            reason: "Decrypt returned no plaintext".to_owned(),
        })?;
        to_key(plaintext, "unwrap")
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_kms::operation::decrypt::DecryptOutput;
    use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    #[tokio::test]
    async fn the_plaintext_key_is_taken_out_of_the_output_and_checked_for_size() {
        let generate = mock!(Client::generate_data_key).then_output(|| {
            GenerateDataKeyOutput::builder()
                .plaintext(Blob::new(vec![7u8; 32]))
                .ciphertext_blob(Blob::new(vec![1u8; 64]))
                .build()
        });
        let short = mock!(Client::decrypt)
            .then_output(|| DecryptOutput::builder().plaintext(Blob::new(vec![7u8; 16])).build());
        let keys =
            KmsDataKeys::new(mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&generate, &short]), "k", "dev");
        let fresh = keys.generate().await.unwrap();
        assert_eq!((&fresh.plaintext[..], fresh.wrapped.len()), (&[7u8; 32][..], 64));
        let err = keys.unwrap(b"wrapped").await.unwrap_err();
        assert!(err.to_string().contains("expected a 32-byte AES-256 key, got 16 bytes"), "{err}");
    }
}
