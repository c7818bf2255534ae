//! `opsctl`: deploy and run the private chatbot.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::process::ExitCode;

use clap::Parser;
use opsctl::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    opsctl::logging::init(cli.global.verbose);
    match opsctl::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", opsctl::errors::explain(&err));
            ExitCode::FAILURE
        }
    }
}
