//! `opsctl cleanup`: remove everything an environment owns, buckets' old versions and leftover
//! log groups included. Safe to run twice. prod needs its stack name typed back, and keeps what
//! prod retains by design (the conversations table, the documents bucket and their KMS key).

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::CleanupArgs;
use crate::config::Env;
use crate::ctx::Ctx;
use crate::interact::Interaction;
use crate::stack;

pub async fn run(args: CleanupArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    confirm(env, &args, ctx.ui.as_ref())?;
    if let Some(out) = &args.export {
        // The conversations first, in full: if that fails, nothing is deleted.
        let deployed = ctx.deployed().await?;
        let summary = crate::export::export(&deployed, None, out).await.with_context(|| {
            format!("exporting the conversations to {} failed, so nothing was deleted", out.display())
        })?;
        if !summary.failed.is_empty() {
            let listed: Vec<String> =
                summary.failed.iter().take(10).map(|f| format!("{} ({})", f.item, f.reason)).collect();
            anyhow::bail!(
                "{} item(s) could not be read or decrypted, so nothing was deleted: {}; the others are in {}",
                summary.failed.len(),
                listed.join("; "),
                out.display()
            );
        }
        eprintln!("exported {} message(s) to {} before cleaning up", summary.messages, out.display());
    }
    let report = stack::cleanup::cleanup(&ctx.sdk().await?, env).await?;
    ctx.out.emit(&report, || {
        if report.removed.is_empty() && report.kept.is_empty() {
            return format!("nothing to remove for {env}");
        }
        let mut text = String::new();
        for r in &report.removed {
            text.push_str(&format!("removed {r}\n"));
        }
        for k in &report.kept {
            text.push_str(&format!("kept    {k}\n"));
        }
        text.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}

fn confirm(env: Env, args: &CleanupArgs, ui: &dyn Interaction) -> anyhow::Result<()> {
    let root = stack::root_name(env);
    if env == Env::Prod {
        if args.confirm.as_deref() == Some(root.as_str()) {
            return Ok(());
        }
        if !ui.can_ask() {
            bail!("cleaning up prod needs the stack name typed back: pass --confirm {root}");
        }
        let prompt = format!(
            "This deletes {root} and everything it owns except the retained table and documents.\nType {root} to confirm: "
        );
        if ui.type_back(&prompt)? != root {
            bail!("cleanup cancelled; nothing was removed");
        }
        return Ok(());
    }
    if args.yes {
        return Ok(());
    }
    if !ui.can_ask() {
        bail!("refusing to delete {root} without confirmation: stdin is not a terminal, so pass --yes");
    }
    let prompt =
        format!("Delete {root}, its bootstrap and billing stacks, buckets, log groups and API token? ");
    if !ui.confirm(prompt.trim_end())? {
        bail!("cleanup cancelled; nothing was removed");
    }
    Ok(())
}
