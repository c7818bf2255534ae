//! `opsctl`: deploy and run the private chatbot.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::process::ExitCode;

use chatbot_core::extract_worker;
use clap::Parser;
use opsctl::cli::{Cli, Command, LocalCommand};

fn main() -> ExitCode {
    // The local target's ingestion reads each document in opsctl re-invoked as a worker. Checked
    // before clap, so the worker is no subcommand and `opsctl --help` never shows it.
    if extract_worker::requested() {
        return extract_worker::run();
    }
    run_cli()
}

#[tokio::main]
async fn run_cli() -> ExitCode {
    let cli = Cli::parse();
    let function_log = matches!(cli.command, Command::Local(LocalCommand::Serve))
        .then(|| opsctl::logs::local_log_path(cli.global.env));
    opsctl::logging::init(cli.global.verbose, function_log.as_deref());
    match opsctl::commands::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", opsctl::errors::explain(&err));
            ExitCode::FAILURE
        }
    }
}
