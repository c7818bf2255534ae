//! The Region, and who the credentials are: STS GetCallerIdentity, which any valid credentials
//! may call, so a failure here is about the credentials (or the network), never a permission.

use aws_config::SdkConfig;

use super::{Check, names};

pub fn region(sdk: &SdkConfig, source: &str) -> Check {
    let Some(region) = sdk.region() else {
        return Check::fail(names::REGION, "no AWS Region is set", Some(crate::aws::SET_REGION.to_owned()));
    };
    let endpoint = sdk.endpoint_url().map(|url| format!("; every call goes to {url}")).unwrap_or_default();
    Check::pass(names::REGION, format!("{region} (from {source}){endpoint}"))
}

pub async fn credentials(sts: &aws_sdk_sts::Client) -> Check {
    match sts.get_caller_identity().send().await {
        Ok(who) => Check::pass(
            names::CREDENTIALS,
            format!(
                "account {} as {}",
                who.account().unwrap_or("(unknown)"),
                who.arn().unwrap_or("(unknown identity)")
            ),
        ),
        Err(e) => {
            let summary = crate::errors::summary(&anyhow::Error::from(e).context("STS GetCallerIdentity"));
            let hint = crate::errors::hint(&summary);
            Check::fail(names::CREDENTIALS, summary, hint)
        }
    }
}
