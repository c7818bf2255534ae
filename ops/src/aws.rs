//! The AWS configuration, from the global arguments and the standard chain (environment,
//! profile, SSO, instance role). `AWS_ENDPOINT_URL` is honoured by the SDK itself.

use anyhow::bail;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::cli::{GlobalArgs, Target};
use crate::local::state;

pub async fn sdk_config(g: &GlobalArgs) -> anyhow::Result<SdkConfig> {
    let config = load(g).await?;
    if config.region().is_none() {
        bail!("no AWS Region is set: {SET_REGION}");
    }
    Ok(config)
}

/// What to do when no Region is set.
pub const SET_REGION: &str = "pass --region, export AWS_REGION, or set `region` in your AWS profile";

/// The configuration as [`sdk_config`] builds it, with or without a Region (`opsctl doctor`
/// reports a missing one as a failed check rather than an error).
pub async fn load(g: &GlobalArgs) -> anyhow::Result<SdkConfig> {
    if g.target == Target::Local {
        return local_sdk_config(g).await;
    }
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
    Ok(loader.load().await)
}

/// Where the Region comes from, in the order the SDK looks: the flag, the environment, then the
/// profile (or, on EC2, the instance's metadata).
pub fn region_source(g: &GlobalArgs) -> String {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if g.target == Target::Local {
        "the local target".into()
    } else if g.region.is_some() {
        "--region".into()
    } else if set("AWS_REGION") {
        "AWS_REGION".into()
    } else if set("AWS_DEFAULT_REGION") {
        "AWS_DEFAULT_REGION".into()
    } else {
        let profile = g.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok());
        format!("the profile `{}` or instance metadata", profile.unwrap_or_else(|| "default".into()))
    }
}

/// The emulator of the environment's local target, with the emulator's dummy credentials: no
/// real AWS credential is ever sent to it.
async fn local_sdk_config(g: &GlobalArgs) -> anyhow::Result<SdkConfig> {
    let Some(local) = state::load(g.env)? else {
        bail!(
            "the local target of {} is not running: start it with `opsctl local up --env {}`",
            g.env,
            g.env
        );
    };
    if !crate::local::process::is_ours(local.emulator.pid, crate::local::process::EMULATOR_MARK) {
        bail!(
            "the emulator of the local target of {env} has stopped (its log is {}): run \
             `opsctl local down --env {env}` then `opsctl local up --env {env}`",
            state::env_dir(g.env).join("emulator.log").display(),
            env = g.env
        );
    }
    let credentials = aws_credential_types::Credentials::new("local", "local", None, None, "opsctl-local");
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(local.emulator_url())
        .region(Region::new(state::LOCAL_REGION))
        .credentials_provider(credentials)
        .load()
        .await)
}
