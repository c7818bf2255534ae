//! `opsctl doctor`: the checks of [`crate::doctor`], one line each, or as JSON; exit 1 when any
//! failed. `opsctl deploy` runs the same checks first ([`crate::doctor::preflight`]).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::DoctorArgs;
use crate::config::Target;
use crate::ctx::Ctx;
use crate::doctor::render::{render, tally};
use crate::doctor::{self, EmulatorNeed, Request};
use crate::stack::deploy::parse_params;

pub async fn run(args: DoctorArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let target = ctx.target;
    let aws = ctx.aws();
    let request = Request {
        env: ctx.env,
        target,
        region_source: aws.as_ref().map_or_else(|_| "the local target".into(), |a| a.region_source()),
        params: parse_params(&args.param)?,
        rag: args.rag.then_some(true),
        // The local target deploys placeholders: nothing is built for it.
        build: (target == Target::Aws).then_some(args.arch),
        emulator: Some(match target {
            Target::Aws => EmulatorNeed::Installed,
            Target::Local => EmulatorNeed::Running,
        }),
    };
    let sdk = match aws {
        Ok(aws) => Ok(aws.load().await),
        Err(e) => Err(crate::errors::summary(&e)),
    };
    let checks = doctor::run(sdk.as_ref().map_err(String::clone), &request).await;
    let failed = doctor::any_failed(&checks);
    let report = json!({
        "env": request.env.as_str(),
        "target": match target { Target::Aws => "aws", Target::Local => "local" },
        "ok": !failed,
        "checks": checks,
    });
    ctx.out.emit(&report, || format!("{}\n{}", render(&checks, |_| true), tally(&checks)))?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
