//! The API token, an SSM SecureString at `/chatbot/{env}/api-token`.
//! CloudFormation cannot create SecureStrings, so opsctl does, through the SSM API.

use anyhow::Context;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;

use crate::config::Env;

pub fn parameter_name(env: Env) -> String {
    format!("/chatbot/{env}/api-token")
}

/// 256 random bits, hex-encoded.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the system's random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The environment's token, failing with what to do when there is none.
pub async fn show(ssm: &Client, env: Env) -> anyhow::Result<String> {
    let name = parameter_name(env);
    read(ssm, &name)
        .await?
        .with_context(|| format!("no API token at {name}: `opsctl deploy --env {env}` creates one"))
}

/// Replaces the environment's token with a new random one, which it returns.
pub async fn rotate(ssm: &Client, env: Env) -> anyhow::Result<String> {
    let token = new_token()?;
    write(ssm, &parameter_name(env), &token, true).await?;
    Ok(token)
}

/// The token, or `None` when the parameter does not exist.
pub async fn read(ssm: &Client, name: &str) -> anyhow::Result<Option<String>> {
    match ssm.get_parameter().name(name).with_decryption(true).send().await {
        Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {name}")),
    }
}

pub async fn write(ssm: &Client, name: &str, token: &str, overwrite: bool) -> anyhow::Result<()> {
    ssm.put_parameter()
        .name(name)
        .value(token)
        .r#type(ParameterType::SecureString)
        .description("Bearer token of the chatbot API (opsctl token rotate replaces it)")
        .overwrite(overwrite)
        .send()
        .await
        .with_context(|| format!("writing {name}"))?;
    Ok(())
}

/// Creates the token when none exists; returns whether it did.
pub async fn ensure(ssm: &Client, env: Env) -> anyhow::Result<bool> {
    let name = parameter_name(env);
    if read(ssm, &name).await?.is_some() {
        return Ok(false);
    }
    write(ssm, &name, &new_token()?, false).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_fresh() {
        let a = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_token().unwrap());
    }
}
