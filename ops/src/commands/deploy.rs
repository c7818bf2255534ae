//! `opsctl deploy`: bootstrap stack, content-addressed uploads, a change set shown and approved,
//! events while it runs, every failure with its reason, then the outputs.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;

use crate::cli::DeployArgs;
use crate::commands::stack_report;
use crate::cost::estimate;
use crate::ctx::Ctx;
use crate::docs::reindex;
use crate::stack::deploy::{self, BillingProblem, Code, Deployment, Plan, parse_params};
use crate::stack::rollout::{self, Approval};
use crate::stack::root_name;
use crate::vector_store::{self, VectorStore};

/// When this deploy turns RAG on or changes its store, the store's monthly cost, before anything
/// changes.
async fn state_cost(ctx: &Ctx, sdk: &crate::aws::Sdk, plan: &Plan) -> anyhow::Result<()> {
    let existing =
        crate::stack::describe(&aws_sdk_cloudformation::Client::new(&sdk.config), &root_name(ctx.env))
            .await?
            .filter(crate::stack::StackInfo::is_live);
    let before = existing.as_ref().and_then(|s| VectorStore::in_use(&s.parameters));
    let asked = plan.params.get(vector_store::PARAMETER).and_then(|v| VectorStore::parse(v));
    let rag =
        plan.enable_rag || before.is_some() || plan.params.get("EnableRAG").is_some_and(|v| v == "true");
    let store = asked.or(before).unwrap_or(VectorStore::DEFAULT);
    if !rag || before == Some(store) {
        return Ok(());
    }
    // A stack to measure the corpus of, when there is one to reach.
    let deployed = match &existing {
        Some(_) => ctx.deployed().await.ok(),
        None => None,
    };
    let parameters = existing.map(|s| s.parameters).unwrap_or_default();
    let region = sdk.config.region().map(|r| r.to_string()).unwrap_or_default();
    let dimensions = plan
        .params
        .get("EmbeddingDimensions")
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| vector_store::dimensions(&parameters));
    let (e, _) = estimate::for_environment(deployed.as_ref(), &region, ctx.env, store, dimensions).await?;
    for line in e.lines() {
        ctx.ui.note(&line);
    }
    Ok(())
}

/// The web app's URL, as an `app_url` field and an `App:` line: the root of the API, which is
/// the chat function's URL on AWS and the gateway on the local target.
fn app_line(
    ctx: &Ctx,
    info: Option<&crate::stack::StackInfo>,
) -> (BTreeMap<String, serde_json::Value>, Vec<String>) {
    let gateway = match ctx.target {
        crate::config::Target::Local => {
            crate::local::state::load(ctx.env).ok().flatten().and_then(|s| s.gateway_url())
        }
        crate::config::Target::Aws => None,
    };
    let Some(api) = gateway.or_else(|| info.and_then(|i| i.outputs.get("ApiUrl").cloned())) else {
        return (BTreeMap::new(), Vec::new());
    };
    let app = crate::browser::app_url(&api);
    let lines = vec![format!("App: {app}  (`opsctl open --env {}` opens it signed in)", ctx.env)];
    (BTreeMap::from([("app_url".to_owned(), serde_json::json!(app))]), lines)
}

pub async fn run(args: DeployArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let code = match (args.code_dir, args.no_package) {
        (Some(dir), _) => Code::Dir(dir),
        (None, true) => Code::Packaged,
        (None, false) => Code::Build,
    };
    let mut params = parse_params(&args.param)?;
    if let Some(store) = args.vector_store {
        params.insert(vector_store::PARAMETER.into(), store.as_str().into());
    }
    let plan = Plan {
        env: ctx.env,
        target: ctx.target,
        enable_rag: args.enable_rag,
        code,
        arch: args.arch,
        params,
        approval: Approval::from_yes(args.yes),
    };
    // Before the configuration is loaded, so a run nobody can approve says so first.
    rollout::require_approval(plan.approval, ctx.ui.as_ref(), "deploy")?;
    let root = root_name(ctx.env);
    let sdk = ctx.sdk().await?;
    if let Err(e) = state_cost(ctx, &sdk, &plan).await {
        ctx.ui.note(&format!("note: no estimate of the vector store's cost: {}", crate::errors::explain(&e)));
    }
    match deploy::deploy(&sdk, &plan, ctx.ui.as_ref()).await? {
        Deployment::Applied { info, changes, billing, previous_store } => {
            match billing {
                None => {}
                Some(BillingProblem::Failed(failed)) => {
                    stack_report::failed(&ctx.out, &failed)?;
                    eprintln!(
                        "warning: the billing alarm stack was not deployed: {} was not deployed; its failures are listed above",
                        failed.stack
                    );
                }
                Some(BillingProblem::Error(e)) => {
                    eprintln!(
                        "warning: the billing alarm stack was not deployed: {}",
                        crate::errors::explain(&e)
                    );
                }
            }
            let now = info.as_ref().and_then(|s| VectorStore::in_use(&s.parameters));
            let (mut extra, mut lines) = app_line(ctx, info.as_ref());
            if now.is_none() || now == previous_store {
                return stack_report::finish_with(&ctx.out, info, &root, Some(changes), extra, lines);
            }
            // A new store (or RAG turned on) starts empty: index what the bucket holds.
            let reindexed = reindex::all(&ctx.deployed().await?, ctx.ui.as_ref()).await?;
            let failed =
                reindexed.iter().filter(|r| r.get("failed").is_some() || r.get("rejected").is_some()).count();
            let chunks: u64 = reindexed.iter().filter_map(|r| r["indexed_chunks"].as_u64()).sum();
            extra.insert(
                "reindexed".to_owned(),
                serde_json::json!({"documents": reindexed, "indexed_chunks": chunks, "failed": failed}),
            );
            if !reindexed.is_empty() {
                lines.push(format!(
                    "indexed {} of {} document(s) from the bucket ({chunks} chunks)",
                    reindexed.len() - failed,
                    reindexed.len()
                ));
            }
            let code = stack_report::finish_with(&ctx.out, info, &root, Some(changes), extra, lines)?;
            if failed > 0 {
                eprintln!("{failed} document(s) not indexed: `opsctl docs reindex --all` tries again");
                return Ok(ExitCode::FAILURE);
            }
            Ok(code)
        }
        Deployment::Unchanged { info } => {
            let (extra, lines) = app_line(ctx, info.as_ref());
            stack_report::finish_with(&ctx.out, info, &root, None, extra, lines)
        }
        Deployment::Declined => Ok(ExitCode::FAILURE),
        Deployment::Failed(failed) => {
            stack_report::failed(&ctx.out, &failed)?;
            if failed.stack != root {
                bail!("{} was not deployed; its failures are listed above", failed.stack);
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
