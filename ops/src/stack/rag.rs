//! Turning RAG on or off: change only `EnableRAG`, through the deploy path.

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;

use crate::aws::Sdk;
use crate::config::Env;
use crate::interact::Interaction;
use crate::stack::changeset::{PlannedChange, Template};
use crate::stack::rollout::{self, Approval, Failed, Outcome};
use crate::stack::{self, StackInfo};

/// How a switch ended.
pub enum Switch {
    /// RAG was already as asked.
    Already(StackInfo),
    Applied {
        info: Option<StackInfo>,
        changes: Vec<PlannedChange>,
    },
    Unchanged {
        info: Option<StackInfo>,
    },
    Declined,
    Failed(Failed),
}

pub const OPENSEARCH_FLOOR: &str = "OpenSearch Serverless bills at least about $175 a month (1 OCU with standby \
replicas off) from now until `opsctl disable-rag`, whether or not anyone chats.";

pub async fn set(
    sdk: &Sdk,
    env: Env,
    enable: bool,
    approval: Approval,
    ui: &dyn Interaction,
) -> anyhow::Result<Switch> {
    rollout::require_approval(approval, ui, "change RAG")?;
    let cfn = Cfn::new(&sdk.config);
    let root = stack::root_name(env);
    let existing = stack::describe(&cfn, &root)
        .await?
        .filter(StackInfo::is_live)
        .with_context(|| format!("{root} does not exist: run `opsctl deploy --env {env}` first"))?;
    let on = existing.parameters.get("EnableRAG").map(String::as_str) == Some("true");
    if on == enable {
        ui.note(&format!("RAG is already {} for {root}", if on { "on" } else { "off" }));
        return Ok(Switch::Already(existing));
    }
    if enable {
        let missing = ["IngestCodeKey", "RetrieveCodeKey"]
            .iter()
            .any(|k| existing.parameters.get(*k).is_none_or(|v| v.is_empty()));
        if missing {
            bail!(
                "{root} was deployed without the ingest and retrieve Lambdas: run `opsctl deploy --env {env} --enable-rag`, which packages them"
            );
        }
        ui.note(&format!("warning: {OPENSEARCH_FLOOR}"));
    } else {
        let docs =
            existing.outputs.get("DocumentsBucket").map(String::as_str).unwrap_or("the documents bucket");
        ui.note(&format!(
            "warning: the vector collection and every indexed chunk will be deleted. Your documents stay in \
             s3://{docs}/docs/; after enable-rag, upload them again to index them."
        ));
    }
    let parameters = existing
        .parameters
        .keys()
        .map(|k| match k.as_str() {
            "EnableRAG" => Parameter::builder().parameter_key(k).parameter_value(enable.to_string()).build(),
            _ => Parameter::builder().parameter_key(k).use_previous_value(true).build(),
        })
        .collect();
    Ok(match rollout::apply(&cfn, ui, &root, Template::Previous, parameters, true, approval).await? {
        Outcome::Applied(plan) => {
            Switch::Applied { info: stack::describe(&cfn, &root).await?, changes: plan.changes }
        }
        Outcome::NoChanges => Switch::Unchanged { info: stack::describe(&cfn, &root).await? },
        Outcome::Declined => Switch::Declined,
        Outcome::Failed(failed) => Switch::Failed(failed),
    })
}
