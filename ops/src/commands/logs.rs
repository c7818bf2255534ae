//! `opsctl logs [chat|ingest|retrieve] [--since 15m] [--follow] [--filter PATTERN]`: a function's
//! log lines, readable. On AWS they come from the function's CloudWatch Logs group; on the local
//! target from the file the gateway writes its handlers' logs to.

use std::process::ExitCode;

use crate::cli::LogsArgs;
use crate::config::Target;
use crate::ctx::Ctx;
use crate::logs::{self, Query, Record, record};

pub async fn run(args: LogsArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let since_ms = logs::parse_since(&args.since, logs::now_ms())?;
    let query = Query { function: args.function, since_ms, filter: args.filter.clone(), follow: args.follow };
    let show = |r: &Record| print(ctx, r);
    let shown = match ctx.target {
        Target::Local => logs::local(ctx.env, &query, show).await?,
        Target::Aws => logs::aws(&ctx.deployed().await?, ctx.ui.as_ref(), &query, show).await?,
    };
    if shown == 0 && !args.follow && !ctx.out.is_json() {
        eprintln!(
            "no {} log lines since {}{}",
            args.function.name(),
            record::format_ms(since_ms),
            match &args.filter {
                Some(p) => format!(" matching {p:?}"),
                None => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print(ctx: &Ctx, r: &Record) -> anyhow::Result<()> {
    if ctx.out.is_json() {
        println!("{}", crate::printable::json_for_terminal(&serde_json::to_string(r)?));
    } else {
        // A log line quotes document keys and model errors, which anyone who can upload controls.
        println!("{}", crate::printable::printable(&record::to_text(r)));
    }
    Ok(())
}
