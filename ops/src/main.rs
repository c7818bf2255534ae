//! `opsctl`: deploy and run the private chatbot.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::process::ExitCode;

use clap::Parser;
use opsctl::cli::{Cli, Command, LocalCommand};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let function_log = matches!(cli.command, Command::Local(LocalCommand::Serve))
        .then(|| opsctl::commands::logs::local_log_path(cli.global.env));
    opsctl::logging::init(cli.global.verbose, function_log.as_deref());
    match opsctl::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", opsctl::errors::explain(&err));
            ExitCode::FAILURE
        }
    }
}
