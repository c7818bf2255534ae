//! `opsctl enable-rag` / `disable-rag`. enable-rag states the chosen store's monthly cost before
//! it changes anything, and once RAG is on with a new store (or on again), indexes every
//! document in the bucket into it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{EnableRagArgs, RagArgs};
use crate::commands::stack_report;
use crate::cost::estimate::{self, Estimate};
use crate::ctx::Ctx;
use crate::docs::reindex;
use crate::stack::rag::{self, Decision, Switch};
use crate::stack::rollout::{self, Approval};
use crate::stack::root_name;
use crate::vector_store::{self, VectorStore};

pub async fn disable(args: RagArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let approval = Approval::from_yes(args.yes);
    rollout::require_approval(approval, ctx.ui.as_ref(), "change RAG")?;
    let switch = rag::set(&ctx.sdk().await?, ctx.env, None, approval, ctx.ui.as_ref()).await?;
    finish(ctx, switch, None, None)
}

pub async fn enable(args: EnableRagArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let approval = Approval::from_yes(args.yes);
    rollout::require_approval(approval, ctx.ui.as_ref(), "change RAG")?;
    let sdk = ctx.sdk().await?;
    let existing = rag::existing(&sdk, ctx.env).await?;
    let decision = rag::decide(&existing.parameters, args.vector_store, ctx.env)?;
    let cost = match decision {
        Decision::Already(_) => None,
        _ => match state_cost(ctx, decision).await {
            Ok(e) => Some(e),
            Err(e) => {
                let why = crate::errors::explain(&e);
                ctx.ui.note(&format!(
                    "warning: the cost of {} could not be estimated: {why}",
                    decision.store().title()
                ));
                if decision.store() == VectorStore::OpenSearch {
                    ctx.ui.note(&format!("warning: {}", estimate::OPENSEARCH_FLOOR));
                }
                None
            }
        },
    };
    let switch = rag::set(&sdk, ctx.env, Some(decision.store()), approval, ctx.ui.as_ref()).await?;
    let reindexed = match (&switch, decision) {
        (Switch::Applied { .. }, Decision::Enable(_) | Decision::Switch { .. }) => {
            Some(reindex_all(ctx).await?)
        }
        _ => None,
    };
    finish(ctx, switch, cost, reindexed)
}

/// The chosen store's monthly cost, on stderr before any change (the JSON result carries it).
async fn state_cost(ctx: &Ctx, decision: Decision) -> anyhow::Result<Estimate> {
    let deployed = ctx.deployed().await?;
    let region = deployed.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let dimensions = vector_store::dimensions(&deployed.parameters);
    let (e, why) =
        estimate::for_environment(Some(&deployed), &region, ctx.env, decision.store(), dimensions).await?;
    if let Some(why) = why {
        ctx.ui.note(&format!("note: {why}; the estimate counts the documents in the bucket instead"));
    }
    for line in e.lines() {
        ctx.ui.note(&line);
    }
    if let Decision::Switch { from, to } = decision {
        ctx.ui.note(&format!(
            "switching from {} to {}: the new store starts empty and every document is indexed into it again \
             afterwards; until then answers have no sources",
            from.title(),
            to.title()
        ));
    }
    Ok(e)
}

async fn reindex_all(ctx: &Ctx) -> anyhow::Result<Vec<Value>> {
    reindex::all(&ctx.deployed().await?, ctx.ui.as_ref()).await
}

fn finish(
    ctx: &Ctx,
    switch: Switch,
    cost: Option<Estimate>,
    reindexed: Option<Vec<Value>>,
) -> anyhow::Result<ExitCode> {
    let root = root_name(ctx.env);
    let failed = reindexed
        .iter()
        .flatten()
        .filter(|r| r.get("failed").is_some() || r.get("rejected").is_some())
        .count();
    let mut extra = BTreeMap::new();
    let mut lines = Vec::new();
    if let Some(cost) = &cost {
        extra.insert("vector_store_cost".to_owned(), serde_json::to_value(cost)?);
    }
    if let Some(docs) = &reindexed {
        let chunks: u64 = docs.iter().filter_map(|r| r["indexed_chunks"].as_u64()).sum();
        extra.insert(
            "reindexed".to_owned(),
            json!({"documents": docs, "indexed_chunks": chunks, "failed": failed}),
        );
        lines.push(format!(
            "indexed {} of {} document(s) from the bucket ({chunks} chunks)",
            docs.len() - failed,
            docs.len()
        ));
    }
    let code = match switch {
        Switch::Already(info) => stack_report::finish_with(&ctx.out, Some(info), &root, None, extra, lines)?,
        Switch::Applied { info, changes } => {
            stack_report::finish_with(&ctx.out, info, &root, Some(changes), extra, lines)?
        }
        Switch::Unchanged { info } => stack_report::finish_with(&ctx.out, info, &root, None, extra, lines)?,
        Switch::Declined => ExitCode::FAILURE,
        Switch::Failed(failed) => {
            stack_report::failed(&ctx.out, &failed)?;
            ExitCode::FAILURE
        }
    };
    if failed > 0 {
        for r in
            reindexed.iter().flatten().filter(|r| r.get("failed").is_some() || r.get("rejected").is_some())
        {
            let why = r["failed"].as_str().or(r["rejected"].as_str()).unwrap_or("?");
            eprintln!("{}: NOT indexed: {why}", r["key"].as_str().unwrap_or("?"));
        }
        eprintln!("{failed} document(s) not indexed: `opsctl docs reindex NAME...` tries them again");
        return Ok(ExitCode::FAILURE);
    }
    Ok(code)
}
