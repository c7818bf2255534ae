//! CloudFormation stacks: names, state, change sets, events, artifacts.

pub mod artifacts;
pub mod changeset;
pub mod cleanup;
pub mod deploy;
pub mod events;
pub mod rag;
pub mod rollout;
pub mod status;

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_cloudformation::Client;
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::config::Env;

pub fn root_name(env: Env) -> String {
    format!("chatbot-{env}")
}

pub fn bootstrap_name(env: Env) -> String {
    format!("chatbot-bootstrap-{env}")
}

pub fn billing_name(env: Env) -> String {
    format!("chatbot-billing-{env}")
}

/// What `describe_stacks` says of one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    #[serde(skip)]
    pub last_updated: Option<DateTime>,
}

impl StackInfo {
    /// A stack that exists and can take an update (not deleted, not mid-review after a declined create).
    pub fn is_live(&self) -> bool {
        self.status != "DELETE_COMPLETE" && self.status != "REVIEW_IN_PROGRESS"
    }
}

/// The stack, or `None` when it does not exist.
pub async fn describe(cfn: &Client, name: &str) -> anyhow::Result<Option<StackInfo>> {
    let out = match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .and_then(|s| s.meta().message())
                .is_some_and(|m| m.contains("does not exist")) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("describing stack {name}")),
    };
    let Some(s) = out.stacks().first() else { return Ok(None) };
    Ok(Some(StackInfo {
        name: s.stack_name().unwrap_or(name).to_owned(),
        id: s.stack_id().unwrap_or_default().to_owned(),
        status: s.stack_status().map(|st| st.as_str().to_owned()).unwrap_or_default(),
        status_reason: s.stack_status_reason().map(str::to_owned),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned()))
            })
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| {
                Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned()))
            })
            .collect(),
        last_updated: s.last_updated_time().or(s.creation_time()).copied(),
    }))
}
