//! opsctl: the chatbot's control plane. The binary in `main.rs` only parses and dispatches; each
//! subcommand lives in [`commands`] and exposes `run(args, &ctx)`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod aws;
pub mod cli;
pub mod commands;
pub mod cost;
pub mod dashboard;
pub mod dashboards;
pub mod deployed;
pub mod doctor;
pub mod errors;
pub mod local;
pub mod logging;
pub mod output;
pub mod package;
pub mod printable;
pub mod stack;
pub mod templates;

use std::process::ExitCode;

use cli::{Cli, Command};

/// What every subcommand gets: the global arguments and a lazily built AWS configuration.
pub struct Ctx {
    pub global: cli::GlobalArgs,
    pub out: output::Output,
}

impl Ctx {
    pub async fn sdk(&self) -> anyhow::Result<aws_config::SdkConfig> {
        aws::sdk_config(&self.global).await
    }

    /// A spinner on stderr only for a person at a terminal, never in JSON mode or CI logs.
    pub fn show_progress(&self) -> bool {
        use std::io::IsTerminal;
        !self.out.is_json() && std::io::stderr().is_terminal()
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx { out: output::Output::new(cli.global.output), global: cli.global };
    match cli.command {
        Command::Cleanup(args) => commands::cleanup::run(args, &ctx).await,
        Command::Doctor(args) => commands::doctor::run(args, &ctx).await,
        Command::Deploy(args) => commands::deploy::run(args, &ctx).await,
        Command::EnableRag(args) => commands::rag::run(true, args, &ctx).await,
        Command::DisableRag(args) => commands::rag::run(false, args, &ctx).await,
        Command::Package(args) => commands::package::run(args, &ctx).await,
        Command::Status => commands::status::run(&ctx).await,
        Command::Token(args) => commands::token::run(args, &ctx).await,
        Command::Cost(args) => commands::cost::run(args, &ctx).await,
        Command::Completions(args) => commands::completions::run(args),
        Command::Local(cmd) => commands::local::run(cmd, &ctx).await,
        Command::Chat(args) => commands::chat::run(args, &ctx).await,
        Command::Docs(cmd) => commands::docs::run(cmd, &ctx).await,
        Command::Smoke(args) => commands::smoke::run(args, &ctx).await,
        Command::Dashboard(args) => commands::dashboard::run(args, &ctx).await,
        Command::Alarms(args) => commands::alarms::run(args, &ctx).await,
        Command::Export(args) => commands::export::run(args, &ctx).await,
        Command::Logs(args) => commands::logs::run(args, &ctx).await,
    }
}
