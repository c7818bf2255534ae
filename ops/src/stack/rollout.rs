//! The one path every stack change takes: change set, approval, execution, progress, and on
//! failure every failed resource with its reason. deploy, enable-rag and disable-rag use it. It
//! asks and reports through the caller's [`Interaction`]; rendering the result is the caller's.

use anyhow::bail;
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;

use super::changeset::{self, Plan, Template};
use super::events::{self, Failure};
use crate::interact::Interaction;

/// Whether the change set may be executed without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// `--yes`, or a stack that needs no review (bootstrap, billing).
    Given,
    /// Ask through the interaction.
    Ask,
}

impl Approval {
    pub fn from_yes(yes: bool) -> Self {
        if yes { Approval::Given } else { Approval::Ask }
    }
}

pub enum Outcome {
    Applied(Plan),
    NoChanges,
    Declined,
    Failed(Failed),
}

/// A stack change that did not complete: its final status and every failed resource.
pub struct Failed {
    pub stack: String,
    pub status: String,
    pub failures: Vec<Failure>,
    /// The API's own error, when executing the change set failed outright.
    pub api_error: Option<anyhow::Error>,
}

impl Failed {
    /// The failure as a person reads it: what failed, each failed resource with its reason, and
    /// what to do next.
    pub fn lines(&self) -> Vec<String> {
        let stack = self.stack.as_str();
        let mut lines = vec![format!("error: deploying {stack} failed ({})", self.status)];
        if let Some(e) = &self.api_error {
            lines.push(format!("  {}", crate::errors::explain(e)));
        }
        for x in &self.failures {
            let nested = if x.stack == stack { String::new() } else { format!(" in {}", x.stack) };
            lines
                .push(format!("  {} {}{nested} [{}]: {}", x.status, x.logical_id, x.resource_type, x.reason));
        }
        if self.status == "UPDATE_ROLLBACK_FAILED" {
            lines.push(format!(
                "  next: fix the cause above, run `aws cloudformation continue-update-rollback --stack-name {stack}`, then deploy again"
            ));
        }
        lines
    }
}

pub async fn apply(
    cfn: &Cfn,
    ui: &dyn Interaction,
    stack: &str,
    template: Template<'_>,
    parameters: Vec<Parameter>,
    exists: bool,
    approval: Approval,
) -> anyhow::Result<Outcome> {
    let Some(plan) = changeset::create(cfn, stack, template, parameters, exists).await? else {
        return Ok(Outcome::NoChanges);
    };
    if plan.changes.is_empty() {
        changeset::discard(cfn, &plan).await.ok();
        return Ok(Outcome::NoChanges);
    }
    ui.plan(stack, plan.changes.len(), &changeset::table(&plan));
    if !approved(ui, approval, stack)? {
        changeset::discard(cfn, &plan).await?;
        ui.note("not applied: the change set was discarded");
        return Ok(Outcome::Declined);
    }
    let started = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let executed = changeset::execute(cfn, &plan).await;
    let status = match &executed {
        Ok(()) => events::wait(cfn, stack, ui.spinner()).await?,
        Err(_) => super::describe(cfn, stack).await?.map(|s| s.status).unwrap_or_else(|| "FAILED".into()),
    };
    if executed.is_ok() && status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") {
        return Ok(Outcome::Applied(plan));
    }
    let failures = events::failures(cfn, stack, Some(started)).await?;
    Ok(Outcome::Failed(Failed { stack: stack.to_owned(), status, failures, api_error: executed.err() }))
}

/// Refuses up front, before anything is created, a change nobody could approve: no `--yes` and
/// no terminal to ask on.
pub fn require_approval(approval: Approval, ui: &dyn Interaction, action: &str) -> anyhow::Result<()> {
    if approval == Approval::Ask && !ui.can_ask() {
        bail!("refusing to {action} without confirmation: stdin is not a terminal, so pass --yes");
    }
    Ok(())
}

fn approved(ui: &dyn Interaction, approval: Approval, stack: &str) -> anyhow::Result<bool> {
    if approval == Approval::Given {
        return Ok(true);
    }
    require_approval(approval, ui, &format!("change {stack}"))?;
    ui.confirm(&format!("Execute these changes on {stack}?"))
}
