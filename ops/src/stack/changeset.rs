//! Change sets: what a deploy would do, shown before it is done.

use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter};
use comfy_table::Table;
use serde::Serialize;

/// What the change set deploys: a new template, or the stack's current one (a parameter change).
#[derive(Debug, Clone, Copy)]
pub enum Template<'a> {
    Body(&'a str),
    Previous,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedChange {
    /// The nested stack the change is in; empty for the root stack.
    pub stack: String,
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    pub replacement: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub change_set: String,
    pub creates_stack: bool,
    pub changes: Vec<PlannedChange>,
}

/// Creates a change set (nested stacks included) and waits for it. `None` means the template
/// and parameters change nothing; the empty change set is deleted again.
pub async fn create(
    cfn: &Client,
    stack: &str,
    template: Template<'_>,
    parameters: Vec<Parameter>,
    stack_exists: bool,
) -> anyhow::Result<Option<Plan>> {
    let name =
        format!("opsctl-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs());
    let kind = if stack_exists { ChangeSetType::Update } else { ChangeSetType::Create };
    let created = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .change_set_type(kind)
        .set_template_body(match template {
            Template::Body(body) => Some(body.to_owned()),
            Template::Previous => None,
        })
        .set_use_previous_template(matches!(template, Template::Previous).then_some(true))
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .include_nested_stacks(true)
        .send()
        .await;
    let created = match created {
        // Some CloudFormation implementations refuse an empty change set up front.
        Err(e) if e.as_service_error().and_then(|s| s.meta().message()).is_some_and(no_changes) => {
            return Ok(None);
        }
        other => other.with_context(|| format!("creating a change set for {stack}"))?,
    };
    let id = created.id().unwrap_or(&name).to_owned();

    for _ in 0..600 {
        let d = cfn
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(stack)
            .send()
            .await
            .context("reading the change set")?;
        match d.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let mut changes = Vec::new();
                collect(cfn, &id, stack, "", &mut changes).await?;
                return Ok(Some(Plan {
                    stack: stack.to_owned(),
                    change_set: id,
                    creates_stack: !stack_exists,
                    changes,
                }));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = d.status_reason().unwrap_or("no reason given").to_owned();
                if no_changes(&reason) {
                    let _ = cfn.delete_change_set().change_set_name(&id).stack_name(stack).send().await;
                    return Ok(None);
                }
                bail!("CloudFormation rejected the change set for {stack}: {reason}");
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    bail!("the change set for {stack} was still being created after 20 minutes")
}

fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// The changes of a change set and, on AWS, of its nested change sets.
async fn collect(
    cfn: &Client,
    id: &str,
    stack: &str,
    nested: &str,
    out: &mut Vec<PlannedChange>,
) -> anyhow::Result<()> {
    let mut token = None;
    loop {
        let d = cfn
            .describe_change_set()
            .change_set_name(id)
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .context("reading the change set")?;
        for c in d.changes() {
            let Some(r) = c.resource_change() else { continue };
            out.push(PlannedChange {
                stack: nested.to_owned(),
                action: r.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: r.resource_type().unwrap_or_default().to_owned(),
                replacement: r.replacement().map(|x| x.as_str().to_owned()).unwrap_or_default(),
            });
            if let (Some(child), Some(logical)) = (r.change_set_id(), r.logical_resource_id()) {
                let path = if nested.is_empty() { logical.to_owned() } else { format!("{nested}/{logical}") };
                Box::pin(collect(cfn, child, "", &path, out)).await?;
            }
        }
        token = d.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(());
        }
    }
}

/// Drops a change set nobody approved; a stack that only existed for it goes too.
pub async fn discard(cfn: &Client, plan: &Plan) -> anyhow::Result<()> {
    cfn.delete_change_set()
        .change_set_name(&plan.change_set)
        .stack_name(&plan.stack)
        .send()
        .await
        .context("deleting the change set")?;
    if plan.creates_stack {
        cfn.delete_stack().stack_name(&plan.stack).send().await.context("deleting the empty stack")?;
    }
    Ok(())
}

pub async fn execute(cfn: &Client, plan: &Plan) -> anyhow::Result<()> {
    cfn.execute_change_set()
        .change_set_name(&plan.change_set)
        .stack_name(&plan.stack)
        .send()
        .await
        .with_context(|| format!("executing the change set for {}", plan.stack))?;
    Ok(())
}

pub fn table(plan: &Plan) -> String {
    let mut t = Table::new();
    t.set_header(["action", "logical id", "type", "replacement", "stack"]);
    for c in &plan.changes {
        let replacement = if c.replacement.is_empty() { "-".to_owned() } else { c.replacement.clone() };
        let stack = if c.stack.is_empty() { "(root)".to_owned() } else { c.stack.clone() };
        t.add_row([c.action.clone(), c.logical_id.clone(), c.resource_type.clone(), replacement, stack]);
    }
    t.to_string()
}
