//! How the stack commands (deploy, enable-rag, disable-rag) print what a stack change did: its
//! state and outputs, or every failed resource with its reason.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Serialize;

use crate::output::Output;
use crate::stack::StackInfo;
use crate::stack::changeset::PlannedChange;
use crate::stack::events::Failure;
use crate::stack::rollout::Failed;

#[derive(Serialize)]
pub struct Report {
    pub stack: String,
    pub status: String,
    pub changes: Vec<PlannedChange>,
    pub outputs: BTreeMap<String, String>,
    pub failures: Vec<Failure>,
    /// What a command adds to the stack's report (enable-rag: the cost and the re-index).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The failure on stderr, each failed resource with its reason and what to do next; with
/// `--output json` also as a report on stdout.
pub fn failed(out: &Output, f: &Failed) -> anyhow::Result<()> {
    let stack = f.stack.as_str();
    if out.is_json() {
        let report = Report {
            stack: stack.into(),
            status: f.status.clone(),
            changes: Vec::new(),
            outputs: BTreeMap::new(),
            failures: f.failures.clone(),
            extra: BTreeMap::new(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    for line in f.lines() {
        eprintln!("{line}");
    }
    Ok(())
}

/// Prints the stack's state and outputs (text or JSON), after the `changes` applied, or after
/// none (`None`).
pub fn finish(
    out: &Output,
    info: Option<StackInfo>,
    stack: &str,
    changes: Option<Vec<PlannedChange>>,
) -> anyhow::Result<ExitCode> {
    finish_with(out, info, stack, changes, BTreeMap::new(), Vec::new())
}

/// [`finish`], with `extra` fields in the JSON and `lines` after the text.
pub fn finish_with(
    out: &Output,
    info: Option<StackInfo>,
    stack: &str,
    changes: Option<Vec<PlannedChange>>,
    extra: BTreeMap<String, serde_json::Value>,
    lines: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let changed = changes.is_some();
    let changes = changes.unwrap_or_default();
    let outputs = info.as_ref().map(|s| s.outputs.clone()).unwrap_or_default();
    let final_status = info.map(|s| s.status).unwrap_or_default();
    let report = Report {
        stack: stack.into(),
        status: final_status.clone(),
        changes,
        outputs,
        failures: Vec::new(),
        extra,
    };
    out.emit(&report, || {
        let mut text = if !changed {
            format!("no changes: {stack} is up to date ({final_status})\n")
        } else {
            format!("{stack}: {final_status}\n")
        };
        for (k, v) in &report.outputs {
            text.push_str(&format!("  {k:<22} {v}\n"));
        }
        for line in &lines {
            text.push_str(&format!("{line}\n"));
        }
        text.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}
