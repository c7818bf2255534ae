//! `opsctl chat ["message"] [--conversation ID]`: one message, or a REPL that keeps the
//! conversation, against the environment's API on AWS or on the local target alike.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chatbot_core::domain::api::ChatResponse;

use crate::chat::ChatClient;
use crate::cli::ChatArgs;
use crate::ctx::Ctx;

pub async fn run(args: ChatArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let api = ChatClient::new(&ctx.deployed().await?).await?;
    let Some(message) = args.message else {
        return repl(ctx, &api, args.conversation).await;
    };
    match api.send(&message, args.conversation.as_deref()).await? {
        Ok(reply) => {
            show(ctx, &reply)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {}", crate::printable::printable(&error));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn show(ctx: &Ctx, reply: &ChatResponse) -> anyhow::Result<()> {
    ctx.out.emit(reply, || {
        let mut text = reply.reply.clone();
        if !reply.citations.is_empty() {
            text.push_str("\n\nsources:");
            for (i, c) in reply.citations.iter().enumerate() {
                text.push_str(&format!(
                    "\n  [{}] {} (chunk {}, score {:.2})",
                    i + 1,
                    c.source,
                    c.chunk,
                    c.score
                ));
            }
        }
        text
    })?;
    if !ctx.out.is_json() {
        let line = format!("conversation {} ({})", reply.conversation_id, reply.model);
        eprintln!("{}", crate::printable::printable(&line));
    }
    Ok(())
}

/// Reads lines until Ctrl-D, keeping the conversation; a failed turn is reported and the REPL
/// goes on, so nothing typed before is lost.
async fn repl(ctx: &Ctx, api: &ChatClient, mut conversation: Option<String>) -> anyhow::Result<ExitCode> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    eprintln!("chatting with {} (Ctrl-D to quit)", api.url);
    loop {
        let line = match tokio::task::block_in_place(|| editor.readline("you> ")) {
            Ok(line) => line,
            Err(ReadlineError::Eof) => return Ok(ExitCode::SUCCESS),
            Err(ReadlineError::Interrupted) => continue,
            Err(e) => bail!("reading the terminal: {e}"),
        };
        let message = line.trim();
        if message.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(message);
        match api.send(message, conversation.as_deref()).await {
            Ok(Ok(reply)) => {
                conversation = Some(reply.conversation_id.clone());
                show(ctx, &reply)?;
            }
            Ok(Err(error)) => eprintln!("error: {}", crate::printable::printable(&error)),
            Err(e) => eprintln!("error: {}", crate::errors::explain(&e)),
        }
    }
}
