//! The API token, read from an SSM SecureString parameter.

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use zeroize::Zeroizing;

use crate::ports::{SecretError, SecretSource};

pub struct SsmParameter {
    client: Client,
    name: String,
}

impl SsmParameter {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }
}

#[async_trait]
impl SecretSource for SsmParameter {
    async fn fetch(&self) -> Result<Zeroizing<String>, SecretError> {
        let out = self.client.get_parameter().name(&self.name).with_decryption(true).send().await;
        match out {
            Ok(out) => out
                .parameter
                .and_then(|p| p.value)
                .map(Zeroizing::new)
                .ok_or_else(|| SecretError::NotFound { name: self.name.clone() }),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => {
                Err(SecretError::NotFound { name: self.name.clone() })
            }
            Err(e) => Err(SecretError::Unavailable { name: self.name.clone(), reason: super::describe(&e) }),
        }
    }
}
