//! `opsctl deploy`: bootstrap stack, content-addressed uploads, a change set shown and approved,
//! events while it runs, every failure with its reason, then the outputs.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;

use crate::Ctx;
use crate::cli::{DeployArgs, Env, Target};
use crate::commands::{self, token};
use crate::doctor::{EmulatorNeed, Request};
use crate::package::{self, Function, Workspace};
use crate::stack::changeset::Template as TemplateSource;
use crate::stack::rollout::{self, Outcome};
use crate::stack::{self, artifacts};
use crate::templates::{self, Template};

pub async fn run(args: DeployArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    rollout::require_confirmation(args.yes, "deploy")?;
    let sdk = ctx.sdk().await?;
    let (cfn, s3, ssm) = (Cfn::new(&sdk), aws_sdk_s3::Client::new(&sdk), aws_sdk_ssm::Client::new(&sdk));
    let env = ctx.global.env;
    let overrides = parse_params(&args.param)?;

    // 0. What would make this deploy or the first chat fail, before anything is created.
    commands::doctor::preflight(ctx, &sdk, &preflight_request(ctx, &args, &overrides)).await?;

    // 1. The bootstrap stack and its bucket.
    let boot_params = vec![param("Environment", env.as_str())];
    let bucket =
        ensure_simple_stack(ctx, &cfn, &stack::bootstrap_name(env), &templates::BOOTSTRAP, boot_params)
            .await?
            .get("ArtifactBucketName")
            .cloned()
            .context("the bootstrap stack has no ArtifactBucketName output")?;

    // 2. Code and templates under content keys.
    let zips: BTreeMap<Function, std::path::PathBuf> = match &args.code_dir {
        Some(dir) => {
            Function::ALL.into_iter().map(|f| (f, dir.join(f.name()).join("bootstrap.zip"))).collect()
        }
        None => {
            let ws = Workspace::locate()?;
            let present: Vec<Function> = Function::ALL.into_iter().filter(|f| ws.has(*f)).collect();
            if !args.no_package {
                package::build_artifacts(&ws, args.arch, &present)?;
            }
            Function::ALL.into_iter().map(|f| (f, ws.zip_path(f))).collect()
        }
    };
    let mut code_keys = BTreeMap::new();
    for (&f, zip) in &zips {
        let Ok(bytes) = std::fs::read(zip) else { continue };
        let key = format!("lambda/{}-{}.zip", f.name(), &templates::sha256_hex(&bytes)[..16]);
        if artifacts::upload_if_missing(&s3, &bucket, &key, bytes).await? {
            eprintln!("uploaded {} ({key})", zip.display());
        }
        code_keys.insert(f, key);
    }
    for t in templates::NESTED {
        artifacts::upload_if_missing(&s3, &bucket, &t.content_key(), t.body.as_bytes().to_vec()).await?;
    }

    // 3. Parameters: ours, then --param, then the stack's previous values for the rest.
    let root = stack::root_name(env);
    let existing = stack::describe(&cfn, &root).await?.filter(stack::StackInfo::is_live);
    let previous_rag =
        existing.as_ref().and_then(|s| s.parameters.get("EnableRAG")).map(String::as_str) == Some("true");
    let rag = args.enable_rag || previous_rag;
    let mut params: BTreeMap<String, String> = BTreeMap::from([
        ("Environment".into(), env.as_str().into()),
        ("EnableRAG".into(), rag.to_string()),
        ("ArtifactBucket".into(), bucket.clone()),
        ("Architecture".into(), args.arch.lambda_name().into()),
    ]);
    for t in templates::NESTED {
        params.insert(t.key_parameter.unwrap_or_default().into(), t.content_key());
    }
    let chat = code_keys.get(&Function::Chat).with_context(|| {
        format!(
            "no chat Lambda zip at {}: run `opsctl package` or deploy without --no-package",
            zips[&Function::Chat].display()
        )
    })?;
    params.insert("ChatCodeKey".into(), chat.clone());
    for (f, name) in [(Function::Ingest, "IngestCodeKey"), (Function::Retrieve, "RetrieveCodeKey")] {
        if let Some(key) = code_keys.get(&f) {
            params.insert(name.into(), key.clone());
        }
    }
    params.extend(overrides);
    if params.get("EnableRAG").map(String::as_str) == Some("true") {
        for name in ["IngestCodeKey", "RetrieveCodeKey"] {
            if !params.contains_key(name) {
                bail!(
                    "RAG needs the ingest and retrieve Lambdas, and there is no zip for them: package them first"
                );
            }
        }
    }
    let parameters = with_previous(params, existing.as_ref());

    // 4. The token the chat Lambda reads at cold start.
    if token::ensure(&ssm, env).await? {
        eprintln!("created the API token at {} (`opsctl token show` prints it)", token::parameter_name(env));
    }

    // 5. Change set, approval, execution.
    let template = TemplateSource::Body(templates::MAIN.body);
    let exists = existing.is_some();
    let plan = match rollout::apply(ctx, &cfn, &root, template, parameters, exists, args.yes).await? {
        Outcome::Applied(plan) => plan,
        Outcome::NoChanges => return rollout::finish(ctx, stack::describe(&cfn, &root).await?, &root, None),
        Outcome::Declined | Outcome::Failed => return Ok(ExitCode::FAILURE),
    };
    let info = stack::describe(&cfn, &root).await?;

    // 6. The billing alarm lives in us-east-1.
    let root_params = info.as_ref().map(|s| s.parameters.clone()).unwrap_or_default();
    if let Err(e) = deploy_billing(ctx, env, &root_params).await {
        eprintln!("warning: the billing alarm stack was not deployed: {}", crate::errors::explain(&e));
    }
    rollout::finish(ctx, info, &root, Some(plan.changes))
}

/// The doctor's checks that apply to this deploy: the Lambda target only when it builds, the
/// Bedrock and quota checks on AWS, the emulator on the local target.
fn preflight_request(ctx: &Ctx, args: &DeployArgs, overrides: &BTreeMap<String, String>) -> Request {
    let target = ctx.global.target;
    Request {
        env: ctx.global.env,
        target,
        region_source: crate::aws::region_source(&ctx.global),
        params: overrides.clone(),
        rag: args.enable_rag.then_some(true),
        build: (!args.no_package && args.code_dir.is_none()).then_some(args.arch),
        emulator: (target == Target::Local).then_some(EmulatorNeed::Running),
    }
}

fn param(k: &str, v: &str) -> Parameter {
    Parameter::builder().parameter_key(k).parameter_value(v).build()
}

/// `K=V` pairs from `--param`.
pub fn parse_params(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    raw.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("--param takes KEY=VALUE, got {kv:?}"),
        })
        .collect()
}

/// Our values, plus "use the previous value" for the stack's other parameters (so an e-mail set
/// once with --param stays set).
fn with_previous(params: BTreeMap<String, String>, existing: Option<&stack::StackInfo>) -> Vec<Parameter> {
    let mut out: Vec<Parameter> = params.iter().map(|(k, v)| param(k, v)).collect();
    if let Some(s) = existing {
        for k in s.parameters.keys().filter(|k| !params.contains_key(*k)) {
            out.push(Parameter::builder().parameter_key(k).use_previous_value(true).build());
        }
    }
    out
}

/// Creates or updates a stack that needs no review (bootstrap, billing) through the same change-set
/// path, approved in advance; returns its outputs.
async fn ensure_simple_stack(
    ctx: &Ctx,
    cfn: &Cfn,
    name: &str,
    template: &Template,
    parameters: Vec<Parameter>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let exists = stack::describe(cfn, name).await?.is_some_and(|s| s.is_live());
    match rollout::apply(ctx, cfn, name, TemplateSource::Body(template.body), parameters, exists, true)
        .await?
    {
        Outcome::Applied(_) | Outcome::NoChanges => {
            Ok(stack::describe(cfn, name).await?.map(|s| s.outputs).unwrap_or_default())
        }
        Outcome::Declined | Outcome::Failed => {
            bail!("{name} was not deployed; its failures are listed above")
        }
    }
}

async fn deploy_billing(ctx: &Ctx, env: Env, root_params: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let mut global = ctx.global.clone();
    global.region = Some("us-east-1".into());
    let cfn = Cfn::new(&crate::aws::sdk_config(&global).await?);
    let get = |k: &str, d: &str| root_params.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let params = vec![
        param("Environment", env.as_str()),
        param("MonthlyBudgetUsd", &get("MonthlyBudgetUsd", "20")),
        param("AlarmEmail", &get("AlarmEmail", "")),
    ];
    ensure_simple_stack(ctx, &cfn, &stack::billing_name(env), &templates::BILLING, params).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_key_value_pairs() {
        let p =
            parse_params(&["AlarmEmail=a@b.c".into(), "AllowedOrigins=https://x,https://y".into()]).unwrap();
        assert_eq!(p["AllowedOrigins"], "https://x,https://y");
        assert!(parse_params(&["novalue".into()]).unwrap_err().to_string().contains("KEY=VALUE"));
        assert!(parse_params(&["=v".into()]).is_err());
    }

    #[test]
    fn unspecified_parameters_keep_their_previous_values() {
        let existing = stack::StackInfo {
            name: "s".into(),
            id: "i".into(),
            status: "CREATE_COMPLETE".into(),
            status_reason: None,
            parameters: BTreeMap::from([
                ("AlarmEmail".into(), "a@b.c".into()),
                ("Environment".into(), "dev".into()),
            ]),
            outputs: BTreeMap::new(),
            last_updated: None,
        };
        let params = with_previous(BTreeMap::from([("Environment".into(), "dev".into())]), Some(&existing));
        let email = params.iter().find(|p| p.parameter_key() == Some("AlarmEmail")).unwrap();
        assert_eq!(email.use_previous_value(), Some(true));
        assert_eq!(params.len(), 2);
    }
}
