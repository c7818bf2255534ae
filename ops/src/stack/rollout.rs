//! The one path every stack change takes: change set, table, approval, execution, progress,
//! and on failure every failed resource with its reason. deploy, enable-rag and disable-rag use it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;
use serde::Serialize;

use super::changeset::{self, Plan, PlannedChange, Template};
use super::events::{self, Failure};
use crate::Ctx;

pub enum Outcome {
    Applied(Plan),
    NoChanges,
    Declined,
    Failed,
}

#[derive(Serialize)]
pub struct Report {
    pub stack: String,
    pub status: String,
    pub changes: Vec<PlannedChange>,
    pub outputs: BTreeMap<String, String>,
    pub failures: Vec<Failure>,
}

pub async fn apply(
    ctx: &Ctx,
    cfn: &Cfn,
    stack: &str,
    template: Template<'_>,
    parameters: Vec<Parameter>,
    exists: bool,
    yes: bool,
) -> anyhow::Result<Outcome> {
    let progress = ctx.show_progress();
    let Some(plan) = changeset::create(cfn, stack, template, parameters, exists).await? else {
        return Ok(Outcome::NoChanges);
    };
    if plan.changes.is_empty() {
        changeset::discard(cfn, &plan).await.ok();
        return Ok(Outcome::NoChanges);
    }
    if ctx.out.quiet {
        // A step of a larger command (`local up`): progress only, on stderr.
        eprintln!("  {stack}: {} changes", plan.changes.len());
    } else if !ctx.out.is_json() {
        println!("{} changes to {stack}:\n{}", plan.changes.len(), changeset::table(&plan));
    }
    if !approved(yes, stack)? {
        changeset::discard(cfn, &plan).await?;
        eprintln!("not applied: the change set was discarded");
        return Ok(Outcome::Declined);
    }
    let started = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let executed = changeset::execute(cfn, &plan).await;
    let status = match &executed {
        Ok(()) => events::wait(cfn, stack, progress).await?,
        Err(_) => super::describe(cfn, stack).await?.map(|s| s.status).unwrap_or_else(|| "FAILED".into()),
    };
    if executed.is_ok() && status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") {
        return Ok(Outcome::Applied(plan));
    }
    let failures = events::failures(cfn, stack, Some(started)).await?;
    report_failures(ctx, stack, &status, &failures, executed.err())?;
    Ok(Outcome::Failed)
}

/// Refuses up front, before anything is created, a change nobody could approve: no `--yes` and
/// no terminal to ask on.
pub fn require_confirmation(yes: bool, action: &str) -> anyhow::Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        bail!("refusing to {action} without confirmation: stdin is not a terminal, so pass --yes");
    }
    Ok(())
}

fn approved(yes: bool, stack: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    require_confirmation(yes, &format!("change {stack}"))?;
    crate::output::ask_yes_no(&format!("Execute these changes on {stack}?"))
}

fn report_failures(
    ctx: &Ctx,
    stack: &str,
    status: &str,
    failures: &[Failure],
    api_error: Option<anyhow::Error>,
) -> anyhow::Result<()> {
    if ctx.out.is_json() {
        let report = Report {
            stack: stack.into(),
            status: status.into(),
            changes: Vec::new(),
            outputs: BTreeMap::new(),
            failures: failures.to_vec(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    eprintln!("error: deploying {stack} failed ({status})");
    if let Some(e) = api_error {
        eprintln!("  {}", crate::errors::explain(&e));
    }
    for f in failures {
        let nested = if f.stack == stack { String::new() } else { format!(" in {}", f.stack) };
        eprintln!("  {} {}{nested} [{}]: {}", f.status, f.logical_id, f.resource_type, f.reason);
    }
    if status == "UPDATE_ROLLBACK_FAILED" {
        eprintln!(
            "  next: fix the cause above, run `aws cloudformation continue-update-rollback --stack-name {stack}`, then deploy again"
        );
    }
    Ok(())
}

/// Prints the stack's state and outputs (text or JSON), after the `changes` applied, or after
/// none (`None`).
pub fn finish(
    ctx: &Ctx,
    info: Option<super::StackInfo>,
    stack: &str,
    changes: Option<Vec<PlannedChange>>,
) -> anyhow::Result<ExitCode> {
    let changed = changes.is_some();
    let changes = changes.unwrap_or_default();
    let outputs = info.as_ref().map(|s| s.outputs.clone()).unwrap_or_default();
    let final_status = info.map(|s| s.status).unwrap_or_default();
    let report =
        Report { stack: stack.into(), status: final_status.clone(), changes, outputs, failures: Vec::new() };
    ctx.out.emit(&report, || {
        let mut text = if !changed {
            format!("no changes: {stack} is up to date ({final_status})\n")
        } else {
            format!("{stack}: {final_status}\n")
        };
        for (k, v) in &report.outputs {
            text.push_str(&format!("  {k:<22} {v}\n"));
        }
        text.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}
