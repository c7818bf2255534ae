//! `opsctl deploy`: bootstrap stack, content-addressed uploads, a change set shown and approved,
//! events while it runs, every failure with its reason, then the outputs.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::DeployArgs;
use crate::commands::stack_report;
use crate::ctx::Ctx;
use crate::stack::deploy::{self, BillingProblem, Code, Deployment, Plan, parse_params};
use crate::stack::rollout::{self, Approval};
use crate::stack::root_name;

pub async fn run(args: DeployArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let code = match (args.code_dir, args.no_package) {
        (Some(dir), _) => Code::Dir(dir),
        (None, true) => Code::Packaged,
        (None, false) => Code::Build,
    };
    let plan = Plan {
        env: ctx.env,
        target: ctx.target,
        enable_rag: args.enable_rag,
        code,
        arch: args.arch,
        params: parse_params(&args.param)?,
        approval: Approval::from_yes(args.yes),
    };
    // Before the configuration is loaded, so a run nobody can approve says so first.
    rollout::require_approval(plan.approval, ctx.ui.as_ref(), "deploy")?;
    let root = root_name(ctx.env);
    match deploy::deploy(&ctx.sdk().await?, &plan, ctx.ui.as_ref()).await? {
        Deployment::Applied { info, changes, billing } => {
            match billing {
                None => {}
                Some(BillingProblem::Failed(failed)) => {
                    stack_report::failed(&ctx.out, &failed)?;
                    eprintln!(
                        "warning: the billing alarm stack was not deployed: {} was not deployed; its failures are listed above",
                        failed.stack
                    );
                }
                Some(BillingProblem::Error(e)) => {
                    eprintln!(
                        "warning: the billing alarm stack was not deployed: {}",
                        crate::errors::explain(&e)
                    );
                }
            }
            stack_report::finish(&ctx.out, info, &root, Some(changes))
        }
        Deployment::Unchanged { info } => stack_report::finish(&ctx.out, info, &root, None),
        Deployment::Declined => Ok(ExitCode::FAILURE),
        Deployment::Failed(failed) => {
            stack_report::failed(&ctx.out, &failed)?;
            if failed.stack != root {
                bail!("{} was not deployed; its failures are listed above", failed.stack);
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
