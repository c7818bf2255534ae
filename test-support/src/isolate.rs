//! Keeps a test's `opsctl` run independent of the shell that started the tests.
//!
//! A developer who followed the demo has `OPSCTL_TARGET=local` exported, and may have a profile,
//! a region or an emulator's endpoint set for their own work. Each of those would silently send a
//! test to another target or account, so every variable opsctl or the AWS SDK reads is removed,
//! and the shared config files are pointed at paths that do not exist; the test then sets exactly
//! what it needs.

use std::process::Command;

/// Prefixes of the variables opsctl, the AWS SDK and the OpenAI-compatible model read.
const READ_BY_OPSCTL: [&str; 3] = ["OPSCTL_", "AWS_", "OPENAI_"];

/// Clears what the caller's shell could leak into `cmd`, then returns it for chaining.
pub fn isolated(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(text) = name.to_str() else { continue };
        if READ_BY_OPSCTL.iter().any(|p| text.starts_with(p)) {
            cmd.env_remove(&name);
        }
    }
    // `opsctl open` starts the browser BROWSER names: a test must never start the developer's.
    cmd.env_remove("BROWSER");
    let nowhere = std::env::temp_dir().join("opsctl-tests-no-aws-config");
    cmd.env("AWS_CONFIG_FILE", nowhere.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", nowhere.join("credentials"))
}
