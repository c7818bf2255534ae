//! Results on stdout, as text or as JSON (`--output json`).

use serde::Serialize;

use crate::cli::OutputFormat;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: OutputFormat,
    /// Print nothing: a command run as a step of another one, which reports for both.
    pub quiet: bool,
}

impl Output {
    pub fn new(format: OutputFormat) -> Self {
        Self { format, quiet: false }
    }

    pub fn quiet() -> Self {
        Self { format: OutputFormat::Text, quiet: true }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `value` as JSON, or `text` for people.
    pub fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.quiet {
            return Ok(());
        }
        if self.is_json() {
            println!("{}", crate::printable::json_for_terminal(&serde_json::to_string_pretty(value)?));
        } else {
            // Text shows what the chatbot, its documents and its logs say: never let it drive
            // the terminal.
            println!("{}", crate::printable::printable(&text()));
        }
        Ok(())
    }
}

/// Asks on stderr and reads one line from the terminal, trimmed.
pub fn ask(question: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

pub fn is_yes(answer: &str) -> bool {
    matches!(answer, "y" | "Y" | "yes")
}

/// `question [y/N]`; anything but yes is no.
pub fn ask_yes_no(question: &str) -> anyhow::Result<bool> {
    Ok(is_yes(&ask(&format!("{question} [y/N] "))?))
}
