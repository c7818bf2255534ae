//! `opsctl cleanup`: remove everything an environment owns, buckets' old versions and leftover
//! log groups included. Safe to run twice. prod needs its stack name typed back, and keeps what
//! prod retains by design (the conversations table, the documents bucket and their KMS key).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::Ctx;
use crate::cli::{CleanupArgs, Env};
use crate::commands::token;
use crate::stack::{self, events};

#[derive(Debug, Default, Serialize)]
struct CleanupReport {
    removed: Vec<String>,
    kept: Vec<String>,
}

pub async fn run(args: CleanupArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.global.env;
    confirm(env, &args)?;
    if let Some(out) = &args.export {
        // The conversations first, in full: if that fails, nothing is deleted.
        let deployed = crate::deployed::Deployed::locate(ctx).await?;
        let summary = crate::commands::export::export(&deployed, None, out).await.with_context(|| {
            format!("exporting the conversations to {} failed, so nothing was deleted", out.display())
        })?;
        if !summary.failed.is_empty() {
            let listed: Vec<String> =
                summary.failed.iter().take(10).map(|f| format!("{} ({})", f.item, f.reason)).collect();
            anyhow::bail!(
                "{} item(s) could not be read or decrypted, so nothing was deleted: {}; the others are in {}",
                summary.failed.len(),
                listed.join("; "),
                out.display()
            );
        }
        eprintln!("exported {} message(s) to {} before cleaning up", summary.messages, out.display());
    }
    let sdk = ctx.sdk().await?;
    let (cfn, s3) = (Cfn::new(&sdk), aws_sdk_s3::Client::new(&sdk));
    let mut report = CleanupReport::default();

    let root = stack::describe(&cfn, &stack::root_name(env)).await?.filter(|s| s.status != "DELETE_COMPLETE");
    let boot =
        stack::describe(&cfn, &stack::bootstrap_name(env)).await?.filter(|s| s.status != "DELETE_COMPLETE");
    let documents = root.as_ref().and_then(|s| s.outputs.get("DocumentsBucket").cloned());
    let artifacts = boot.as_ref().and_then(|s| s.outputs.get("ArtifactBucketName").cloned());

    // Buckets first: CloudFormation cannot delete a bucket that still holds versions.
    if let Some(b) = &documents {
        if env == Env::Prod {
            report
                .kept
                .push(format!("s3://{b} (prod keeps your documents; delete it by hand if you mean to)"));
        } else {
            empty_bucket(&s3, b, &mut report).await?;
        }
    }
    if let Some(b) = &artifacts {
        empty_bucket(&s3, b, &mut report).await?;
    }
    if env == Env::Prod && root.is_some() {
        report.kept.push(format!(
            "table chatbot-conversations-{env} (retained in prod; `opsctl export` first if you delete it)"
        ));
        if let Some(key) = root.as_ref().and_then(|s| s.outputs.get("KeyArn")) {
            report.kept.push(kept_key(key, env));
        }
    }

    for name in [stack::root_name(env), stack::bootstrap_name(env)] {
        delete_stack(&cfn, &name, &mut report).await?;
    }
    let mut east = ctx.global.clone();
    east.region = Some("us-east-1".into());
    let east_cfn = Cfn::new(&crate::aws::sdk_config(&east).await?);
    delete_stack(&east_cfn, &stack::billing_name(env), &mut report).await?;

    // Buckets a stack kept (a failed delete, or prod's retain policy outside prod's exceptions).
    if env != Env::Prod {
        for b in documents.iter().chain(artifacts.iter()) {
            if s3.head_bucket().bucket(b).send().await.is_ok() {
                empty_bucket(&s3, b, &mut report).await?;
                s3.delete_bucket().bucket(b).send().await.with_context(|| format!("deleting s3://{b}"))?;
                report.removed.push(format!("bucket s3://{b}"));
            }
        }
    }

    delete_log_groups(&aws_sdk_cloudwatchlogs::Client::new(&sdk), env, &mut report).await?;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = token::parameter_name(env);
    match ssm.delete_parameter().name(&name).send().await {
        Ok(_) => report.removed.push(format!("parameter {name}")),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => {}
        Err(e) => return Err(e).with_context(|| format!("deleting {name}")),
    }

    ctx.out.emit(&report, || {
        if report.removed.is_empty() && report.kept.is_empty() {
            return format!("nothing to remove for {env}");
        }
        let mut text = String::new();
        for r in &report.removed {
            text.push_str(&format!("removed {r}\n"));
        }
        for k in &report.kept {
            text.push_str(&format!("kept    {k}\n"));
        }
        text.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The key outlives the stack with the data it encrypts: deleting it would make them unreadable,
/// so only the operator may, on purpose, after the table and bucket are gone.
fn kept_key(key: &str, env: Env) -> String {
    format!(
        "KMS key {key} and alias/chatbot-{env} (retained in prod: the table and documents bucket kept \
         above are encrypted with it). Once you have deleted both, schedule its deletion with \
         `aws kms schedule-key-deletion --key-id {key} --pending-window-in-days 30`"
    )
}

fn confirm(env: Env, args: &CleanupArgs) -> anyhow::Result<()> {
    let root = stack::root_name(env);
    if env == Env::Prod {
        if args.confirm.as_deref() == Some(root.as_str()) {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            bail!("cleaning up prod needs the stack name typed back: pass --confirm {root}");
        }
        eprint!(
            "This deletes {root} and everything it owns except the retained table and documents.\nType {root} to confirm: "
        );
    } else {
        if args.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            bail!("refusing to delete {root} without confirmation: stdin is not a terminal, so pass --yes");
        }
        eprint!("Delete {root}, its bootstrap and billing stacks, buckets, log groups and API token? [y/N] ");
    }
    let answer = crate::output::ask("")?;
    let ok = if env == Env::Prod { answer == root } else { crate::output::is_yes(&answer) };
    if !ok {
        bail!("cleanup cancelled; nothing was removed");
    }
    Ok(())
}

/// Deletes every object version and delete marker, a thousand at a time.
async fn empty_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    report: &mut CleanupReport,
) -> anyhow::Result<()> {
    let mut removed = 0usize;
    loop {
        let page = match s3.list_object_versions().bucket(bucket).max_keys(1000).send().await {
            Ok(p) => p,
            Err(e)
                if e.as_service_error().map(|s| s.meta().code() == Some("NoSuchBucket")).unwrap_or(false) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("listing s3://{bucket}")),
        };
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?, v.version_id())))
            .chain(page.delete_markers().iter().filter_map(|m| Some((m.key()?, m.version_id()))))
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder().key(key).set_version_id(version.map(str::to_owned)).build().ok()
            })
            .collect();
        if ids.is_empty() {
            break;
        }
        removed += ids.len();
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .context("building a delete request")?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .with_context(|| format!("emptying s3://{bucket}"))?;
        if let Some(e) = out.errors().first() {
            bail!(
                "could not delete {} from s3://{bucket}: {}",
                e.key().unwrap_or("?"),
                e.message().unwrap_or("no reason")
            );
        }
    }
    if removed > 0 {
        report.removed.push(format!("{removed} object versions and delete markers from s3://{bucket}"));
    }
    Ok(())
}

async fn delete_stack(cfn: &Cfn, name: &str, report: &mut CleanupReport) -> anyhow::Result<()> {
    let Some(info) = stack::describe(cfn, name).await?.filter(|s| s.status != "DELETE_COMPLETE") else {
        return Ok(());
    };
    cfn.delete_stack().stack_name(&info.id).send().await.with_context(|| format!("deleting {name}"))?;
    for _ in 0..1200 {
        match stack::describe(cfn, &info.id).await? {
            None => break,
            Some(s) if s.status == "DELETE_COMPLETE" => break,
            Some(s) if s.status == "DELETE_FAILED" => {
                let reasons: Vec<String> = events::failures(cfn, &info.id, None)
                    .await?
                    .into_iter()
                    .map(|f| format!("{} ({}): {}", f.logical_id, f.status, f.reason))
                    .collect();
                bail!("deleting {name} failed: {}; fix that and run cleanup again", reasons.join("; "));
            }
            Some(_) => tokio::time::sleep(Duration::from_secs(3)).await,
        }
    }
    report.removed.push(format!("stack {name}"));
    Ok(())
}

/// Log groups Lambda or API Gateway recreate after the stack deleted its own.
async fn delete_log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    env: Env,
    report: &mut CleanupReport,
) -> anyhow::Result<()> {
    let ours = |n: &str| {
        n == format!("/aws/apigateway/chatbot-{env}")
            || ["chat", "ingest", "retrieve"].iter().any(|f| n == format!("/aws/lambda/chatbot-{f}-{env}"))
    };
    for prefix in ["/aws/lambda/chatbot-", "/aws/apigateway/chatbot-"] {
        let mut token = None;
        loop {
            let page = logs
                .describe_log_groups()
                .log_group_name_prefix(prefix)
                .set_next_token(token)
                .send()
                .await
                .context("listing log groups")?;
            for g in page.log_groups() {
                let Some(name) = g.log_group_name().filter(|n| ours(n)) else { continue };
                logs.delete_log_group()
                    .log_group_name(name)
                    .send()
                    .await
                    .with_context(|| format!("deleting log group {name}"))?;
                report.removed.push(format!("log group {name}"));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(())
}
