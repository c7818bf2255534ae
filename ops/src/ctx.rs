//! What every command gets: the environment, where it runs, how to reach AWS, how to print, and
//! the interaction (prompts and progress) the command hands to the capabilities it calls.

use crate::aws::{AwsArgs, Sdk};
use crate::config::{Env, OutputFormat, Target};
use crate::deployed::Deployed;
use crate::interact::{Interaction, Terminal};
use crate::output::Output;

pub struct Ctx {
    pub env: Env,
    pub target: Target,
    /// The `--profile --region --endpoint-url` flags as given; [`Ctx::aws`] resolves the target.
    pub aws: AwsArgs,
    pub out: Output,
    pub ui: Box<dyn Interaction>,
}

impl Ctx {
    pub fn new(env: Env, target: Target, aws: AwsArgs, format: OutputFormat) -> Self {
        let json = format == OutputFormat::Json;
        Self { env, target, aws, out: Output::new(format), ui: Box::new(Terminal { json }) }
    }

    /// How to reach the target: the flags on AWS, the running emulator on the local target.
    pub fn aws(&self) -> anyhow::Result<AwsArgs> {
        match self.target {
            Target::Aws => Ok(self.aws.clone()),
            Target::Local => crate::local::emulator_aws(self.env),
        }
    }

    pub async fn sdk(&self) -> anyhow::Result<Sdk> {
        Sdk::new(self.aws()?).await
    }

    /// The deployed environment the command acts on.
    pub async fn deployed(&self) -> anyhow::Result<Deployed> {
        Deployed::locate(self.sdk().await?.config, self.env, self.target).await
    }
}
