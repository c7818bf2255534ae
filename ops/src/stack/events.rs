//! Waiting on a stack: progress while it works, and every failed resource with its reason when
//! it fails, nested stacks included (not just "rollback requested").

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_cloudformation::Client;
use aws_smithy_types::DateTime;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub stack: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

fn in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// Polls until the stack settles; returns its final status. `bar` (hidden when nobody watches)
/// shows the elapsed time and resource counts.
pub async fn wait(cfn: &Client, stack: &str, bar: ProgressBar) -> anyhow::Result<String> {
    let started = Instant::now();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    loop {
        let info = super::describe(cfn, stack)
            .await?
            .with_context(|| format!("stack {stack} disappeared while waiting"))?;
        if !in_progress(&info.status) {
            bar.finish_and_clear();
            return Ok(info.status);
        }
        if let Ok(r) = cfn.describe_stack_resources().stack_name(stack).send().await {
            let all = r.stack_resources();
            let done = all
                .iter()
                .filter(|x| x.resource_status().is_some_and(|s| s.as_str().ends_with("_COMPLETE")))
                .count();
            let failed = all
                .iter()
                .filter(|x| x.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED")))
                .count();
            bar.set_message(format!(
                "{stack}: {} ({done}/{} resources done, {failed} failed)",
                info.status,
                all.len()
            ));
        }
        if started.elapsed() > Duration::from_secs(3 * 3600) {
            bar.finish_and_clear();
            anyhow::bail!("{stack} is still {} after 3 hours; check the CloudFormation console", info.status);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Every `*_FAILED` event since `since`, in this stack and the nested stacks it names.
pub async fn failures(cfn: &Client, stack: &str, since: Option<DateTime>) -> anyhow::Result<Vec<Failure>> {
    let mut out = Vec::new();
    let mut pending = vec![stack.to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut token = None;
        'pages: loop {
            let page = cfn.describe_stack_events().stack_name(&name).set_next_token(token).send().await;
            let Ok(page) = page else { break };
            for e in page.stack_events() {
                if let (Some(t), Some(s)) = (e.timestamp(), since)
                    && t.secs() < s.secs()
                {
                    break 'pages;
                }
                let status = e.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
                let resource_type = e.resource_type().unwrap_or_default().to_owned();
                if resource_type == "AWS::CloudFormation::Stack"
                    && e.logical_resource_id() != Some(name.as_str())
                    && let Some(child) = e.physical_resource_id().filter(|p| !p.is_empty())
                {
                    pending.push(child.to_owned());
                }
                if status.ends_with("_FAILED") {
                    out.push(Failure {
                        stack: name.clone(),
                        logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                        resource_type,
                        status,
                        reason: e.resource_status_reason().unwrap_or("no reason given").to_owned(),
                    });
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}
