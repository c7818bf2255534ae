//! `opsctl export [--conversation ID | --all] --out FILE`; exit 1 when an item could not be read.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chatbot_core::domain::message::ConversationId;
use serde_json::json;

use crate::cli::ExportArgs;
use crate::ctx::Ctx;
use crate::export::export;

pub async fn run(args: ExportArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let conversation = match (&args.conversation, args.all) {
        (Some(id), false) => Some(
            ConversationId::parse(id)
                .with_context(|| format!("--conversation {id}: not a conversation id (a UUID)"))?,
        ),
        (None, true) => None,
        _ => bail!("say what to export: --conversation ID (one) or --all (every conversation)"),
    };
    let d = ctx.deployed().await?;
    let summary = export(&d, conversation, &args.out).await?;
    let failed = summary.failed.len();
    ctx.out.emit(
        &json!({"file": args.out, "messages": summary.messages, "conversations": summary.conversations,
                "failed": summary.failed}),
        || {
            let mut text = format!(
                "exported {} message(s) of {} conversation(s) to {}",
                summary.messages,
                summary.conversations,
                args.out.display()
            );
            if failed > 0 {
                text.push_str(&format!(
                    "\n{failed} item(s) could not be read or decrypted and are not in the file:"
                ));
                for f in &summary.failed {
                    text.push_str(&format!("\n  {}: {}", f.item, f.reason));
                }
            }
            text
        },
    )?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
