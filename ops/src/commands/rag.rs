//! `opsctl enable-rag` / `disable-rag`: change only `EnableRAG`, through the deploy path.

use std::process::ExitCode;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;

use crate::Ctx;
use crate::cli::RagArgs;
use crate::stack::changeset::Template;
use crate::stack::rollout::{self, Outcome};
use crate::stack::{self, StackInfo};

pub const OPENSEARCH_FLOOR: &str = "OpenSearch Serverless bills at least about $175 a month (1 OCU with standby \
replicas off) from now until `opsctl disable-rag`, whether or not anyone chats.";

pub async fn run(enable: bool, args: RagArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    rollout::require_confirmation(args.yes, "change RAG")?;
    let cfn = Cfn::new(&ctx.sdk().await?);
    let env = ctx.global.env;
    let root = stack::root_name(env);
    let existing = stack::describe(&cfn, &root)
        .await?
        .filter(StackInfo::is_live)
        .with_context(|| format!("{root} does not exist: run `opsctl deploy --env {env}` first"))?;
    let on = existing.parameters.get("EnableRAG").map(String::as_str) == Some("true");
    if on == enable {
        eprintln!("RAG is already {} for {root}", if on { "on" } else { "off" });
        return rollout::finish(ctx, Some(existing), &root, None);
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
        eprintln!("warning: {OPENSEARCH_FLOOR}");
    } else {
        let docs =
            existing.outputs.get("DocumentsBucket").map(String::as_str).unwrap_or("the documents bucket");
        eprintln!(
            "warning: the vector collection and every indexed chunk will be deleted. Your documents stay in \
             s3://{docs}/docs/; after enable-rag, upload them again to index them."
        );
    }
    let parameters = existing
        .parameters
        .keys()
        .map(|k| match k.as_str() {
            "EnableRAG" => Parameter::builder().parameter_key(k).parameter_value(enable.to_string()).build(),
            _ => Parameter::builder().parameter_key(k).use_previous_value(true).build(),
        })
        .collect();
    match rollout::apply(ctx, &cfn, &root, Template::Previous, parameters, true, args.yes).await? {
        Outcome::Applied(plan) => {
            rollout::finish(ctx, stack::describe(&cfn, &root).await?, &root, Some(plan.changes))
        }
        Outcome::NoChanges => rollout::finish(ctx, stack::describe(&cfn, &root).await?, &root, None),
        Outcome::Declined | Outcome::Failed => Ok(ExitCode::FAILURE),
    }
}
