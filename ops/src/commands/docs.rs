//! `opsctl docs put|ls|rm|reindex`: the documents RAG answers from, in the documents bucket under
//! `docs/`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{DocsCommand, DocsPutArgs, DocsReindexArgs, DocsRmArgs};
use crate::ctx::Ctx;
use crate::deployed::Deployed;
use crate::docs;

pub async fn run(cmd: DocsCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let deployed = ctx.deployed().await?;
    match cmd {
        DocsCommand::Put(args) => put(args, ctx, &deployed).await,
        DocsCommand::Ls => ls(ctx, &deployed).await,
        DocsCommand::Rm(args) => rm(args, ctx, &deployed).await,
        DocsCommand::Reindex(args) => reindex(args, ctx, &deployed).await,
    }
}

async fn reindex(args: DocsReindexArgs, ctx: &Ctx, d: &Deployed) -> anyhow::Result<ExitCode> {
    d.require_rag("docs reindex")?;
    let keys = if args.all {
        docs::reindex::all_keys(d).await?
    } else {
        args.names.iter().map(|n| docs::key_of(n)).collect::<anyhow::Result<_>>()?
    };
    if keys.is_empty() {
        let bucket = d.output("DocumentsBucket")?;
        ctx.out.emit(&json!({"documents": [], "indexed_chunks": 0, "failed": 0}), || {
            format!("no documents in s3://{bucket}/{}: nothing to re-index", docs::PREFIX)
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let ingest = docs::reindex::ingest_for(d).await?;
    let results = docs::reindex::run(ingest.as_ref(), &keys, ctx.ui.as_ref()).await;
    report_with(ctx, &results, "`opsctl docs reindex NAME...` tries them again")
}

async fn put(args: DocsPutArgs, ctx: &Ctx, d: &Deployed) -> anyhow::Result<ExitCode> {
    d.require_rag("docs put")?;
    let (uploads, skipped) = docs::collect(&args.paths)?;
    for path in &skipped {
        ctx.ui.note(&format!("skipping {} (not a document type ingestion reads)", path.display()));
    }
    let results = docs::put_files(d, ctx.ui.as_ref(), &uploads, Duration::from_secs(args.timeout)).await?;
    report(ctx, &results)
}

async fn rm(args: DocsRmArgs, ctx: &Ctx, d: &Deployed) -> anyhow::Result<ExitCode> {
    let keys: Vec<String> = args.names.iter().map(|n| docs::key_of(n)).collect::<anyhow::Result<_>>()?;
    let results = docs::remove_keys(d, ctx.ui.as_ref(), &keys, Duration::from_secs(args.timeout)).await?;
    report(ctx, &results)
}

const STAY: &str = "they stay in the bucket until `opsctl docs rm`";

fn report(ctx: &Ctx, results: &[Value]) -> anyhow::Result<ExitCode> {
    report_with(ctx, results, STAY)
}

fn report_with(ctx: &Ctx, results: &[Value], next: &str) -> anyhow::Result<ExitCode> {
    let failed = results.iter().filter(|r| r.get("rejected").is_some() || r.get("failed").is_some()).count();
    let total_chunks: u64 = results.iter().filter_map(|r| r["indexed_chunks"].as_u64()).sum();
    ctx.out.emit(&json!({"documents": results, "indexed_chunks": total_chunks, "failed": failed}), || {
        let mut lines: Vec<String> = results
            .iter()
            .map(|r| {
                let key = r["key"].as_str().unwrap_or("?");
                if let Some(n) = r["indexed_chunks"].as_u64() {
                    format!("{key}: {n} chunk(s) indexed")
                } else if r.get("unchanged").is_some() {
                    format!("{key}: unchanged, already indexed")
                } else if r.get("removed").is_some() {
                    format!("{key}: removed")
                } else {
                    let why = r["rejected"].as_str().or(r["failed"].as_str()).unwrap_or("?");
                    format!("{key}: NOT indexed: {why}")
                }
            })
            .collect();
        if failed > 0 {
            lines.push(format!("{failed} document(s) not indexed; {next}"));
        }
        lines.join("\n")
    })?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn ls(ctx: &Ctx, d: &Deployed) -> anyhow::Result<ExitCode> {
    let (bucket, documents) = docs::list(d).await?;
    let bucket = bucket.as_str();
    ctx.out.emit(&json!({"bucket": bucket, "documents": documents}), || {
        if documents.is_empty() {
            return format!(
                "no documents in s3://{bucket}/{}; add some with `opsctl docs put <file|dir>`",
                docs::PREFIX
            );
        }
        let mut table = comfy_table::Table::new();
        table.set_header(["NAME", "SIZE", "LAST MODIFIED"]);
        for doc in &documents {
            table.add_row([
                doc["name"].as_str().unwrap_or_default().to_owned(),
                doc["size"].to_string(),
                doc["last_modified"].as_str().unwrap_or_default().to_owned(),
            ]);
        }
        table.to_string()
    })?;
    Ok(ExitCode::SUCCESS)
}
