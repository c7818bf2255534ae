//! `opsctl chat ["message"] [--conversation ID] [--no-stream]`: one message, or a REPL that
//! keeps the conversation, against the environment's API on AWS or on the local target alike.
//! Replies print as they stream; Ctrl-C during one stops it (the partial reply stays stored,
//! marked `stopped`) and, in the REPL, returns to the prompt.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chatbot_core::domain::api::ChatResponse;

use crate::chat::{ChatClient, Streamed};
use crate::cli::ChatArgs;
use crate::ctx::Ctx;
use crate::printable::printable;

/// The shell's status for a command ended by SIGINT.
const INTERRUPTED: u8 = 130;

pub async fn run(args: ChatArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let api = ChatClient::new(&ctx.deployed().await?).await?;
    // JSON output is one document: there is nothing to show before the reply is whole.
    let stream = !args.no_stream && !ctx.out.is_json();
    let Some(message) = args.message else {
        return repl(ctx, &api, args.conversation, stream).await;
    };
    let outcome = turn(ctx, &api, &message, args.conversation.as_deref(), stream).await?;
    Ok(match outcome {
        Outcome::Answered(_) => ExitCode::SUCCESS,
        Outcome::Stopped(_) => ExitCode::from(INTERRUPTED),
        Outcome::Failed(_) => ExitCode::FAILURE,
    })
}

/// How a turn went, with the conversation it continued or started, when known.
enum Outcome {
    Answered(String),
    Stopped(Option<String>),
    Failed(Option<String>),
}

async fn turn(
    ctx: &Ctx,
    api: &ChatClient,
    message: &str,
    conversation: Option<&str>,
    stream: bool,
) -> anyhow::Result<Outcome> {
    if !stream {
        return Ok(match api.send(message, conversation).await? {
            Ok(reply) => {
                show(ctx, &reply)?;
                Outcome::Answered(reply.conversation_id)
            }
            Err(error) => {
                eprintln!("error: {}", printable(&error));
                Outcome::Failed(conversation.map(str::to_owned))
            }
        });
    }
    let mut stdout = std::io::stdout();
    let mut printed = false;
    let print = |delta: &str| {
        printed = true;
        // A closed stdout (a pipe whose reader left) must not abort the turn: it is stored.
        let _ = write!(stdout, "{}", printable(delta));
        let _ = stdout.flush();
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let streamed = api.stream(message, conversation, print, stop).await;
    if printed {
        println!();
    }
    Ok(match streamed? {
        Streamed::Done(reply) => {
            if !reply.citations.is_empty() {
                println!("\n{}", printable(&sources(&reply)));
            }
            conversation_line(&reply);
            Outcome::Answered(reply.conversation_id)
        }
        Streamed::Stopped { conversation_id, partial } => {
            let kept =
                if partial.is_empty() { "nothing was written yet" } else { "the partial reply is kept" };
            eprintln!("stopped: {kept}");
            Outcome::Stopped(conversation_id)
        }
        Streamed::Failed { conversation_id, error } => {
            eprintln!("error: {}", printable(&error));
            Outcome::Failed(conversation_id)
        }
    })
}

fn sources(reply: &ChatResponse) -> String {
    let mut text = "sources:".to_owned();
    for (i, c) in reply.citations.iter().enumerate() {
        text.push_str(&format!("\n  [{}] {} (chunk {}, score {:.2})", i + 1, c.source, c.chunk, c.score));
    }
    text
}

fn conversation_line(reply: &ChatResponse) {
    let line = format!("conversation {} ({})", reply.conversation_id, reply.model);
    eprintln!("{}", printable(&line));
}

fn show(ctx: &Ctx, reply: &ChatResponse) -> anyhow::Result<()> {
    ctx.out.emit(reply, || {
        let mut text = reply.reply.clone();
        if !reply.citations.is_empty() {
            text.push_str("\n\n");
            text.push_str(&sources(reply));
        }
        text
    })?;
    if !ctx.out.is_json() {
        conversation_line(reply);
    }
    Ok(())
}

/// Reads lines until Ctrl-D, keeping the conversation; a failed turn is reported and the REPL
/// goes on, so nothing typed before is lost.
async fn repl(
    ctx: &Ctx,
    api: &ChatClient,
    mut conversation: Option<String>,
    stream: bool,
) -> anyhow::Result<ExitCode> {
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
        match turn(ctx, api, message, conversation.as_deref(), stream).await {
            Ok(Outcome::Answered(id)) => conversation = Some(id),
            Ok(Outcome::Stopped(id) | Outcome::Failed(id)) => conversation = id.or(conversation),
            Err(e) => eprintln!("error: {}", crate::errors::explain(&e)),
        }
    }
}
