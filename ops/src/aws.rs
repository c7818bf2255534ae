//! The AWS configuration, from the global arguments and the standard chain (environment,
//! profile, SSO, instance role). `AWS_ENDPOINT_URL` is honoured by the SDK itself.

use anyhow::bail;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::cli::GlobalArgs;

pub async fn sdk_config(g: &GlobalArgs) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &g.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &g.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &g.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        bail!("no AWS Region is set: pass --region, export AWS_REGION, or set `region` in your AWS profile");
    }
    Ok(config)
}
