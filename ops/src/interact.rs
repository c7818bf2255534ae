//! Prompts and progress: the one way a capability talks to the person running it. The command
//! owns the interaction and hands it down, so `stack::deploy` or `docs::put` run the same under a
//! terminal, as a step of `local up`, or in a test or a future web handler with no terminal at all.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub trait Interaction: Send + Sync {
    /// `question [y/N]`; anything but yes is no.
    fn confirm(&self, question: &str) -> anyhow::Result<bool>;
    /// Shows `prompt` and reads one line back, trimmed (a name typed to confirm).
    fn type_back(&self, prompt: &str) -> anyhow::Result<String>;
    /// Whether a question can be answered at all (a person at a terminal).
    fn can_ask(&self) -> bool;
    /// A line of progress or a warning, on stderr: never part of the result.
    fn note(&self, line: &str);
    /// A detail of progress a person watching wants and a step of a larger command leaves out.
    fn detail(&self, line: &str);
    /// The changes about to be made to `stack`, before they are approved.
    fn plan(&self, stack: &str, count: usize, table: &str);
    /// A spinner for a long wait, hidden when nobody would see it.
    fn spinner(&self) -> ProgressBar;
    /// A bar for `len` steps of `what`, hidden when nobody would see it.
    fn progress(&self, len: u64, what: &str) -> ProgressBar;
}

/// A person at a terminal: questions on stderr, answers from stdin, results on stdout. With
/// `--output json` stdout carries only the JSON result, so the plan is not printed there.
pub struct Terminal {
    pub json: bool,
}

impl Interaction for Terminal {
    fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        Ok(is_yes(&self.type_back(&format!("{question} [y/N] "))?))
    }

    fn type_back(&self, prompt: &str) -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim().to_owned())
    }

    fn can_ask(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn detail(&self, line: &str) {
        eprintln!("{line}");
    }

    fn plan(&self, stack: &str, count: usize, table: &str) {
        if !self.json {
            println!("{count} changes to {stack}:\n{table}");
        }
    }

    fn spinner(&self) -> ProgressBar {
        // Only for a person at a terminal, never in JSON mode or CI logs.
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed:>4}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        ProgressBar::new(len).with_style(style).with_prefix(what.to_owned())
    }
}

/// A step of a larger command (`local up` deploying to the emulator): it never asks, and reports
/// one line per stack on stderr, leaving the result to the command that runs it.
pub struct Step;

impl Interaction for Step {
    fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        anyhow::bail!("cannot ask \"{question}\" during a step of another command: approve it up front")
    }

    fn type_back(&self, prompt: &str) -> anyhow::Result<String> {
        anyhow::bail!("cannot ask \"{}\" during a step of another command", prompt.trim())
    }

    fn can_ask(&self) -> bool {
        false
    }

    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn detail(&self, _line: &str) {}

    fn plan(&self, stack: &str, count: usize, _table: &str) {
        eprintln!("  {stack}: {count} changes");
    }

    fn spinner(&self) -> ProgressBar {
        ProgressBar::hidden()
    }

    fn progress(&self, _len: u64, _what: &str) -> ProgressBar {
        ProgressBar::hidden()
    }
}

pub fn is_yes(answer: &str) -> bool {
    matches!(answer, "y" | "Y" | "yes")
}
