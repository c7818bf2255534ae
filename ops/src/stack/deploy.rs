//! Deploying an environment: bootstrap stack, content-addressed uploads, the token, a change set
//! approved through the caller's interaction, then the billing alarm in us-east-1. A typed
//! [`Plan`] in, a [`Deployment`] out: `opsctl deploy` and `opsctl local up` render it their way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;

use crate::aws::{BILLING_REGION, Sdk};
use crate::config::{Env, Target};
use crate::doctor::{self, EmulatorNeed, Request};
use crate::interact::Interaction;
use crate::package::{self, Arch, Function, Workspace};
use crate::stack::changeset::{PlannedChange, Template as TemplateSource};
use crate::stack::rollout::{self, Approval, Failed, Outcome};
use crate::stack::{self, StackInfo, artifacts};
use crate::templates::{self, Template};
use crate::token;
use crate::vector_store::{self, VectorStore};

/// Where the Lambdas' zips come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// Build them now into target/lambda.
    Build,
    /// The zips `opsctl package` already made in target/lambda.
    Packaged,
    /// `<dir>/<function>/bootstrap.zip` (the local target's placeholders).
    Dir(PathBuf),
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct Plan {
    pub env: Env,
    pub target: Target,
    pub enable_rag: bool,
    pub code: Code,
    pub arch: Arch,
    /// Root stack parameters given as `--param KEY=VALUE`.
    pub params: BTreeMap<String, String>,
    pub approval: Approval,
}

/// How a deploy ended.
pub enum Deployment {
    /// The root stack changed: its state now, the changes made, and the vector store in use
    /// before (`None`: RAG was off), so a change of store can be followed by a re-index.
    Applied {
        info: Option<StackInfo>,
        changes: Vec<PlannedChange>,
        billing: Option<BillingProblem>,
        previous_store: Option<VectorStore>,
    },
    /// Nothing to change.
    Unchanged { info: Option<StackInfo> },
    /// The change set was not approved.
    Declined,
    /// A stack change failed. When `failed.stack` is not the root stack, the bootstrap stack
    /// failed and nothing else was attempted.
    Failed(Failed),
}

/// The billing alarm's stack did not deploy; the rest of the deploy stands.
pub enum BillingProblem {
    Failed(Failed),
    Error(anyhow::Error),
}

pub async fn deploy(sdk: &Sdk, plan: &Plan, ui: &dyn Interaction) -> anyhow::Result<Deployment> {
    rollout::require_approval(plan.approval, ui, "deploy")?;
    let config = &sdk.config;
    let (cfn, s3, ssm) =
        (Cfn::new(config), aws_sdk_s3::Client::new(config), aws_sdk_ssm::Client::new(config));
    let env = plan.env;

    // 0. What would make this deploy or the first chat fail, before anything is created.
    doctor::preflight(config, &preflight_request(sdk, plan), ui).await?;

    // 1. The bootstrap stack and its bucket.
    let boot_params = vec![param("Environment", env.as_str())];
    let bucket =
        match ensure_simple_stack(ui, &cfn, &stack::bootstrap_name(env), &templates::BOOTSTRAP, boot_params)
            .await?
        {
            Ok(outputs) => outputs
                .get("ArtifactBucketName")
                .cloned()
                .context("the bootstrap stack has no ArtifactBucketName output")?,
            Err(failed) => return Ok(Deployment::Failed(failed)),
        };

    // 2. Code and templates under content keys.
    let zips: BTreeMap<Function, PathBuf> = match &plan.code {
        Code::Dir(dir) => {
            Function::ALL.into_iter().map(|f| (f, dir.join(f.name()).join("bootstrap.zip"))).collect()
        }
        Code::Build | Code::Packaged => {
            let ws = Workspace::locate()?;
            let present: Vec<Function> = Function::ALL.into_iter().filter(|f| ws.has(*f)).collect();
            if plan.code == Code::Build {
                package::build_artifacts(&ws, plan.arch, &present)?;
            }
            Function::ALL.into_iter().map(|f| (f, ws.zip_path(f))).collect()
        }
    };
    let mut code_keys = BTreeMap::new();
    for (&f, zip) in &zips {
        let Ok(bytes) = std::fs::read(zip) else { continue };
        let key = format!("lambda/{}-{}.zip", f.name(), &templates::sha256_hex(&bytes)[..16]);
        if artifacts::upload_if_missing(&s3, &bucket, &key, bytes).await? {
            ui.note(&format!("uploaded {} ({key})", zip.display()));
        }
        code_keys.insert(f, key);
    }
    for t in templates::NESTED {
        artifacts::upload_if_missing(&s3, &bucket, &t.content_key(), t.body.as_bytes().to_vec()).await?;
    }

    // 3. Parameters: ours, then --param, then the stack's previous values for the rest.
    let root = stack::root_name(env);
    let existing = stack::describe(&cfn, &root).await?.filter(StackInfo::is_live);
    let previous_rag =
        existing.as_ref().and_then(|s| s.parameters.get("EnableRAG")).map(String::as_str) == Some("true");
    let rag = plan.enable_rag || previous_rag;
    let mut params: BTreeMap<String, String> = BTreeMap::from([
        ("Environment".into(), env.as_str().into()),
        ("EnableRAG".into(), rag.to_string()),
        ("ArtifactBucket".into(), bucket.clone()),
        ("Architecture".into(), plan.arch.lambda_name().into()),
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
    params.insert(Function::Chat.code_parameter().into(), chat.clone());
    for f in [Function::Ingest, Function::Retrieve] {
        if let Some(key) = code_keys.get(&f) {
            params.insert(f.code_parameter().into(), key.clone());
        }
    }
    params.extend(plan.params.clone());
    if let Some(store) = kept_store(existing.as_ref(), &params, templates::MAIN.body) {
        params.insert(vector_store::PARAMETER.into(), store.as_str().into());
    }
    if params.get("EnableRAG").map(String::as_str) == Some("true") {
        for f in [Function::Ingest, Function::Retrieve] {
            if !params.contains_key(f.code_parameter()) {
                bail!(
                    "RAG needs the ingest and retrieve Lambdas, and there is no zip for them: package them first"
                );
            }
        }
    }
    let parameters = with_previous(params, existing.as_ref());

    // 4. The token the chat Lambda reads at cold start.
    if token::ensure(&ssm, env).await? {
        ui.note(&format!(
            "created the API token at {} (`opsctl token show` prints it)",
            token::parameter_name(env)
        ));
    }

    // 5. Change set, approval, execution.
    let template = TemplateSource::Body(templates::MAIN.body);
    let exists = existing.is_some();
    let applied = match rollout::apply(&cfn, ui, &root, template, parameters, exists, plan.approval).await? {
        Outcome::Applied(applied) => applied,
        Outcome::NoChanges => return Ok(Deployment::Unchanged { info: stack::describe(&cfn, &root).await? }),
        Outcome::Declined => return Ok(Deployment::Declined),
        Outcome::Failed(failed) => return Ok(Deployment::Failed(failed)),
    };
    let info = stack::describe(&cfn, &root).await?;

    // 6. The billing alarm lives in us-east-1.
    let root_params = info.as_ref().map(|s| s.parameters.clone()).unwrap_or_default();
    let billing = match deploy_billing(sdk, ui, env, &root_params).await {
        Ok(Ok(())) => None,
        Ok(Err(failed)) => Some(BillingProblem::Failed(failed)),
        Err(e) => Some(BillingProblem::Error(e)),
    };
    let previous_store = existing.as_ref().and_then(|s| VectorStore::in_use(&s.parameters));
    Ok(Deployment::Applied { info, changes: applied.changes, billing, previous_store })
}

/// The store to pass when none was asked for and the template's default would change it: a
/// RAG stack deployed before `VectorStore` existed keeps its OpenSearch collection (the
/// parameter's default would replace it with an empty S3 Vectors index). A stack that has the
/// parameter keeps its value through "use the previous value".
fn kept_store(
    existing: Option<&StackInfo>,
    params: &BTreeMap<String, String>,
    template: &str,
) -> Option<VectorStore> {
    let s = existing?;
    let knows = template.contains(&format!("\n  {}:", vector_store::PARAMETER));
    let unset =
        !params.contains_key(vector_store::PARAMETER) && !s.parameters.contains_key(vector_store::PARAMETER);
    (knows && unset && VectorStore::in_use(&s.parameters).is_some()).then_some(VectorStore::OpenSearch)
}

/// The doctor's checks that apply to this deploy: the Lambda target only when it builds, the
/// Bedrock and quota checks on AWS, the emulator on the local target.
fn preflight_request(sdk: &Sdk, plan: &Plan) -> Request {
    Request {
        env: plan.env,
        target: plan.target,
        region_source: sdk.args.region_source(),
        params: plan.params.clone(),
        rag: plan.enable_rag.then_some(true),
        build: (plan.code == Code::Build).then_some(plan.arch),
        emulator: (plan.target == Target::Local).then_some(EmulatorNeed::Running),
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
fn with_previous(params: BTreeMap<String, String>, existing: Option<&StackInfo>) -> Vec<Parameter> {
    let mut out: Vec<Parameter> = params.iter().map(|(k, v)| param(k, v)).collect();
    if let Some(s) = existing {
        for k in s.parameters.keys().filter(|k| !params.contains_key(*k)) {
            out.push(Parameter::builder().parameter_key(k).use_previous_value(true).build());
        }
    }
    out
}

/// Creates or updates a stack that needs no review (bootstrap, billing) through the same change-set
/// path, approved in advance; returns its outputs, or how it failed.
async fn ensure_simple_stack(
    ui: &dyn Interaction,
    cfn: &Cfn,
    name: &str,
    template: &Template,
    parameters: Vec<Parameter>,
) -> anyhow::Result<Result<BTreeMap<String, String>, Failed>> {
    let exists = stack::describe(cfn, name).await?.is_some_and(|s| s.is_live());
    let source = TemplateSource::Body(template.body);
    match rollout::apply(cfn, ui, name, source, parameters, exists, Approval::Given).await? {
        Outcome::Applied(_) | Outcome::NoChanges => {
            Ok(Ok(stack::describe(cfn, name).await?.map(|s| s.outputs).unwrap_or_default()))
        }
        Outcome::Failed(failed) => Ok(Err(failed)),
        Outcome::Declined => bail!("{name} was not deployed"),
    }
}

async fn deploy_billing(
    sdk: &Sdk,
    ui: &dyn Interaction,
    env: Env,
    root_params: &BTreeMap<String, String>,
) -> anyhow::Result<Result<(), Failed>> {
    let cfn = Cfn::new(&sdk.in_region(BILLING_REGION).await?.config);
    let get = |k: &str, d: &str| root_params.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let params = vec![
        param("Environment", env.as_str()),
        param("MonthlyBudgetUsd", &get("MonthlyBudgetUsd", "20")),
        param("AlarmEmail", &get("AlarmEmail", "")),
    ];
    let deployed =
        ensure_simple_stack(ui, &cfn, &stack::billing_name(env), &templates::BILLING, params).await?;
    Ok(deployed.map(|_| ()))
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
    fn an_old_rag_stack_keeps_opensearch_when_no_store_is_asked_for() {
        let stack = |pairs: &[(&str, &str)]| stack::StackInfo {
            name: "s".into(),
            id: "i".into(),
            status: "UPDATE_COMPLETE".into(),
            status_reason: None,
            parameters: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            outputs: BTreeMap::new(),
            last_updated: None,
        };
        let template = "Parameters:\n  VectorStore:\n    Type: String\n";
        let none = BTreeMap::new();
        let old_rag = stack(&[("EnableRAG", "true")]);
        assert_eq!(kept_store(Some(&old_rag), &none, template), Some(VectorStore::OpenSearch));
        let asked = BTreeMap::from([("VectorStore".to_owned(), "s3vectors".to_owned())]);
        assert_eq!(kept_store(Some(&old_rag), &asked, template), None, "an explicit store wins");
        assert_eq!(kept_store(Some(&old_rag), &none, "Parameters:\n"), None, "a template without it");
        assert_eq!(kept_store(Some(&stack(&[("EnableRAG", "false")])), &none, template), None);
        let new = stack(&[("EnableRAG", "true"), ("VectorStore", "s3vectors")]);
        assert_eq!(kept_store(Some(&new), &none, template), None, "the previous value is used");
        assert_eq!(kept_store(None, &none, template), None);
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
