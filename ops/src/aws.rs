//! How opsctl reaches AWS: the flattened `--profile --region --endpoint-url` group and the
//! `SdkConfig` it makes, from those flags and the standard chain (environment, profile, SSO,
//! instance role). `AWS_ENDPOINT_URL` is honoured by the SDK itself. The local target supplies
//! its emulator through the same type, with the emulator's dummy credentials.

use anyhow::bail;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use clap::Args;

/// Billing metrics, and so the billing alarm's stack, live in us-east-1 whatever the stack's region.
pub const BILLING_REGION: &str = "us-east-1";

/// What to do when no Region is set.
pub const SET_REGION: &str = "pass --region, export AWS_REGION, or set `region` in your AWS profile";

/// The credentials sent to an emulator: never a real AWS credential.
const EMULATOR_KEY: &str = "local";

#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS Region (default: AWS_REGION or the profile's region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named AWS profile (default: AWS_PROFILE or `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint, such as an emulator (default: AWS_ENDPOINT_URL).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Set for an emulator: its dummy credentials replace the standard chain.
    #[arg(skip)]
    emulator: bool,
}

impl AwsArgs {
    /// An emulator at `url`, in `region`, with its dummy credentials.
    pub fn emulator(url: impl Into<String>, region: &str) -> Self {
        Self {
            region: Some(region.to_owned()),
            profile: None,
            endpoint_url: Some(url.into()),
            emulator: true,
        }
    }

    pub fn is_emulator(&self) -> bool {
        self.emulator
    }

    /// The same account and endpoint in another Region (the billing stack's us-east-1). An
    /// emulator has one Region for everything, as the local target always had.
    pub fn in_region(&self, region: &str) -> Self {
        if self.emulator {
            return self.clone();
        }
        Self { region: Some(region.to_owned()), ..self.clone() }
    }

    /// The configuration, failing with what to do when no Region is set.
    pub async fn sdk_config(&self) -> anyhow::Result<SdkConfig> {
        let config = self.load().await;
        if config.region().is_none() {
            bail!("no AWS Region is set: {SET_REGION}");
        }
        Ok(config)
    }

    /// The configuration with or without a Region (`opsctl doctor` reports a missing one as a
    /// failed check rather than an error).
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if self.emulator {
            let credentials = aws_credential_types::Credentials::new(
                EMULATOR_KEY,
                EMULATOR_KEY,
                None,
                None,
                "opsctl-local",
            );
            loader = loader.credentials_provider(credentials);
        } else if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }

    /// Where the Region comes from, in the order the SDK looks: the flag, the environment, then
    /// the profile (or, on EC2, the instance's metadata).
    pub fn region_source(&self) -> String {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if self.emulator {
            "the local target".into()
        } else if self.region.is_some() {
            "--region".into()
        } else if set("AWS_REGION") {
            "AWS_REGION".into()
        } else if set("AWS_DEFAULT_REGION") {
            "AWS_DEFAULT_REGION".into()
        } else {
            let profile = self.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok());
            format!("the profile `{}` or instance metadata", profile.unwrap_or_else(|| "default".into()))
        }
    }
}

/// A loaded configuration together with the arguments that made it, so a capability can reach
/// the same account in another Region without knowing about flags or targets.
#[derive(Clone)]
pub struct Sdk {
    pub config: SdkConfig,
    pub args: AwsArgs,
}

impl Sdk {
    pub async fn new(args: AwsArgs) -> anyhow::Result<Self> {
        Ok(Self { config: args.sdk_config().await?, args })
    }

    pub async fn in_region(&self, region: &str) -> anyhow::Result<Sdk> {
        Sdk::new(self.args.in_region(region)).await
    }
}
