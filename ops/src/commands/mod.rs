//! One module per subcommand, each exposing `run(args, &ctx)`: arguments in, a call on a
//! capability module, the result rendered. No command calls another.

pub mod alarms;
pub mod chat;
pub mod cleanup;
pub mod completions;
pub mod conversations;
pub mod cost;
pub mod dashboard;
pub mod deploy;
pub mod docs;
pub mod doctor;
pub mod export;
pub mod local;
pub mod logs;
pub mod open;
pub mod package;
pub mod rag;
pub mod smoke;
pub mod stack_report;
pub mod status;
pub mod token;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::ctx::Ctx;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = cli.global;
    let ctx = Ctx::new(g.env, g.target, g.aws, g.output);
    match cli.command {
        Command::Cleanup(args) => cleanup::run(args, &ctx).await,
        Command::Doctor(args) => doctor::run(args, &ctx).await,
        Command::Deploy(args) => deploy::run(args, &ctx).await,
        Command::EnableRag(args) => rag::enable(args, &ctx).await,
        Command::DisableRag(args) => rag::disable(args, &ctx).await,
        Command::Package(args) => package::run(args, &ctx).await,
        Command::Status => status::run(&ctx).await,
        Command::Token(args) => token::run(args, &ctx).await,
        Command::Cost(args) => cost::run(args, &ctx).await,
        Command::Completions(args) => completions::run(args),
        Command::Local(cmd) => local::run(cmd, &ctx).await,
        Command::Chat(args) => chat::run(args, &ctx).await,
        Command::Open(args) => open::run(args, &ctx).await,
        Command::Conversations(cmd) => conversations::run(cmd, &ctx).await,
        Command::Docs(cmd) => docs::run(cmd, &ctx).await,
        Command::Smoke(args) => smoke::run(args, &ctx).await,
        Command::Dashboard(args) => dashboard::run(args, &ctx).await,
        Command::Alarms(args) => alarms::run(args, &ctx).await,
        Command::Export(args) => export::run(args, &ctx).await,
        Command::Logs(args) => logs::run(args, &ctx).await,
    }
}
