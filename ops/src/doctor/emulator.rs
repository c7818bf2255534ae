//! The local emulator: installed (what `opsctl local up` and the tests start), and, for the
//! local target, running as the process `local up` recorded and answering HTTP.

use std::time::Duration;

use super::{Check, EmulatorNeed, names};
use crate::config::Env;
use crate::local::process::{self, EMULATOR_MARK};
use crate::local::state;

pub async fn check(env: Env, need: EmulatorNeed) -> Check {
    let name = names::EMULATOR;
    match need {
        EmulatorNeed::Installed => match process::emulator_python() {
            Ok(python) => Check::pass(name, format!("installed ({} with moto)", python.display())),
            Err(e) => Check::warn(
                name,
                "not installed here: only `opsctl local up` and the tests need it",
                Some(e.to_string()),
            ),
        },
        EmulatorNeed::Running => running(env).await,
    }
}

async fn running(env: Env) -> Check {
    let name = names::EMULATOR;
    let local = match state::load(env) {
        Ok(Some(local)) => local,
        Ok(None) => {
            return Check::fail(
                name,
                format!("the local target of {env} is not running"),
                Some(format!("start it with `opsctl local up --env {env}`")),
            );
        }
        Err(e) => return Check::fail(name, crate::errors::summary(&e), None),
    };
    let url = local.emulator_url();
    let restart = format!("run `opsctl local down --env {env}` then `opsctl local up --env {env}`");
    let log = state::env_dir(env).join("emulator.log");
    if !process::is_ours(local.emulator.pid, EMULATOR_MARK) {
        return Check::fail(
            name,
            format!(
                "the emulator of {env} (pid {}) has stopped; its log is {}",
                local.emulator.pid,
                log.display()
            ),
            Some(restart),
        );
    }
    if answers(&url).await {
        Check::pass(name, format!("running at {url} (pid {})", local.emulator.pid))
    } else {
        Check::fail(
            name,
            format!("the emulator at {url} does not answer; its log is {}", log.display()),
            Some(restart),
        )
    }
}

/// Any HTTP answer from moto's own page: the server is up and serving.
async fn answers(url: &str) -> bool {
    let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(5)).build() else { return false };
    client.get(format!("{url}/moto-api/")).send().await.is_ok()
}
