//! `opsctl enable-rag` / `disable-rag`.

use std::process::ExitCode;

use crate::cli::RagArgs;
use crate::commands::stack_report;
use crate::ctx::Ctx;
use crate::stack::rag::{self, Switch};
use crate::stack::rollout::{self, Approval};
use crate::stack::root_name;

pub async fn run(enable: bool, args: RagArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let approval = Approval::from_yes(args.yes);
    rollout::require_approval(approval, ctx.ui.as_ref(), "change RAG")?;
    let root = root_name(ctx.env);
    match rag::set(&ctx.sdk().await?, ctx.env, enable, approval, ctx.ui.as_ref()).await? {
        Switch::Already(info) => stack_report::finish(&ctx.out, Some(info), &root, None),
        Switch::Applied { info, changes } => stack_report::finish(&ctx.out, info, &root, Some(changes)),
        Switch::Unchanged { info } => stack_report::finish(&ctx.out, info, &root, None),
        Switch::Declined => Ok(ExitCode::FAILURE),
        Switch::Failed(failed) => {
            stack_report::failed(&ctx.out, &failed)?;
            Ok(ExitCode::FAILURE)
        }
    }
}
