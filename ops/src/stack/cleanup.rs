//! Removing everything an environment owns, buckets' old versions and leftover
//! log groups included. Safe to run twice. prod needs its stack name typed back, and keeps what
//! prod retains by design (the conversations table, the documents bucket and their KMS key).

use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::aws::{BILLING_REGION, Sdk};
use crate::config::Env;
use crate::functions::Function;
use crate::stack::{self, events};
use crate::token;

#[derive(Debug, Default, Serialize)]
pub struct CleanupReport {
    pub removed: Vec<String>,
    pub kept: Vec<String>,
}

/// Removes what `env` owns and says what it removed and what it kept. The caller confirms first.
pub async fn cleanup(sdk: &Sdk, env: Env) -> anyhow::Result<CleanupReport> {
    let config = &sdk.config;
    let (cfn, s3) = (Cfn::new(config), aws_sdk_s3::Client::new(config));
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
    let east_cfn = Cfn::new(&sdk.in_region(BILLING_REGION).await?.config);
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

    delete_log_groups(&aws_sdk_cloudwatchlogs::Client::new(config), env, &mut report).await?;
    let ssm = aws_sdk_ssm::Client::new(config);
    let name = token::parameter_name(env);
    match ssm.delete_parameter().name(&name).send().await {
        Ok(_) => report.removed.push(format!("parameter {name}")),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => {}
        Err(e) => return Err(e).with_context(|| format!("deleting {name}")),
    }

    Ok(report)
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

/// Log groups Lambda recreates after the stack deleted its own.
async fn delete_log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    env: Env,
    report: &mut CleanupReport,
) -> anyhow::Result<()> {
    let ours = |n: &str| Function::ALL.iter().any(|f| n == f.log_group(env));
    for prefix in ["/aws/lambda/chatbot-"] {
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
