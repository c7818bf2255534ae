//! The local target (see ARCHITECTURE.md, "The local target"): the chat API on one machine, served by the same handlers as the
//! Lambdas, over the emulator and the local development doubles.

pub mod documents;
pub mod embedder;
pub mod gateway;
pub mod lifecycle;
pub mod metrics;
pub mod openai;
pub mod process;
pub mod state;
pub mod wiring;

use anyhow::bail;

use crate::aws::AwsArgs;
use crate::config::Env;

/// The emulator of the environment's local target, with the emulator's dummy credentials: no
/// real AWS credential is ever sent to it.
pub fn emulator_aws(env: Env) -> anyhow::Result<AwsArgs> {
    let Some(local) = state::load(env)? else {
        bail!("the local target of {env} is not running: start it with `opsctl local up --env {env}`");
    };
    if !process::is_ours(local.emulator.pid, process::EMULATOR_MARK) {
        bail!(
            "the emulator of the local target of {env} has stopped (its log is {}): run \
             `opsctl local down --env {env}` then `opsctl local up --env {env}`",
            state::env_dir(env).join("emulator.log").display(),
        );
    }
    Ok(local.emulator_aws())
}
