//! Results on stdout, as text or as JSON (`--output json`).

use serde::Serialize;

use crate::config::OutputFormat;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: OutputFormat,
}

impl Output {
    pub fn new(format: OutputFormat) -> Self {
        Self { format }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `value` as JSON, or `text` for people.
    pub fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
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
