//! What makes a first deploy fail or a first chat answer 502, found before anything is created:
//! the Region and credentials, the stacks' state, Bedrock model access, the quotas that matter,
//! the Lambda build target and the emulator. `opsctl doctor` prints these checks and `opsctl
//! deploy` runs the subset that applies first.
//!
//! Each check is a plain function over the clients or probes it needs and returns a [`Check`];
//! [`run`] picks the checks a [`Request`] needs and runs them in order. A check whose
//! prerequisite failed (no Region, unusable credentials) is skipped rather than failed again
//! with the same cause. Nothing here prints.

pub mod bedrock;
pub mod emulator;
pub mod identity;
pub mod quotas;
pub mod render;
pub mod stacks;
pub mod toolchain;

use std::collections::BTreeMap;

use anyhow::bail;
use aws_config::SdkConfig;
use serde::Serialize;

use crate::config::{Env, Target};
use crate::interact::Interaction;
use crate::package::Arch;
use crate::stack::StackInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// Could not be read or confirmed, and is not known to break anything: a quota Service
    /// Quotas does not list, a throttled probe.
    Warn,
    Fail,
    /// Not run, because a check it depends on failed.
    Skip,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    /// One line: what was found.
    pub detail: String,
    /// The next step, for a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, outcome: Outcome::Pass, detail: detail.into(), hint: None }
    }

    pub fn warn(name: &'static str, detail: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Self { name, outcome: Outcome::Warn, detail: detail.into(), hint: hint.into() }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Self { name, outcome: Outcome::Fail, detail: detail.into(), hint: hint.into() }
    }

    pub fn skip(name: &'static str, why: impl Into<String>) -> Self {
        Self { name, outcome: Outcome::Skip, detail: why.into(), hint: None }
    }
}

/// Whether any check failed: the exit status of `doctor`, and whether `deploy` goes on.
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.outcome == Outcome::Fail)
}

/// The names, in the order [`run`] reports them.
pub mod names {
    pub const REGION: &str = "region";
    pub const CREDENTIALS: &str = "credentials";
    pub const STACKS: &str = "stacks";
    pub const CHAT_MODEL: &str = "chat-model";
    pub const EMBEDDING_MODEL: &str = "embedding-model";
    pub const LAMBDA_CONCURRENCY: &str = "lambda-concurrency";
    pub const MODEL_QUOTA: &str = "model-quota";
    pub const LAMBDA_TARGET: &str = "lambda-target";
    pub const EMULATOR: &str = "emulator";
}

/// What the emulator check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmulatorNeed {
    /// Installed: `local up` and the tests need it; a deploy to AWS does not (a warning).
    Installed,
    /// Running and answering: the target is the local one.
    Running,
}

/// What to check, in the terms deploy takes them.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: Env,
    pub target: Target,
    /// Where the Region came from, for the region check's line.
    pub region_source: String,
    /// Root stack parameters given as `--param KEY=VALUE`; they win over the deployed values,
    /// which win over the template's defaults, as in deploy.
    pub params: BTreeMap<String, String>,
    /// Whether RAG will be on; `None`: as the deployed stack has it (off when none is deployed).
    pub rag: Option<bool>,
    /// The architecture the Lambdas are built for; `None`: nothing is built here.
    pub build: Option<Arch>,
    pub emulator: Option<EmulatorNeed>,
}

/// The settings a deploy of `request` would give the stack, from `--param`, the deployed stack,
/// then the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub chat_model_id: String,
    pub rag: bool,
    pub embedding_model_id: String,
    pub embedding_dimensions: String,
    pub chat_reserved_concurrency: String,
    /// With RAG, whether the ingestion function reserves a concurrency of 1.
    pub serialize_ingestion: bool,
}

impl Settings {
    pub fn resolve(request: &Request, deployed: Option<&StackInfo>) -> Self {
        let value = |key: &str| -> String {
            request
                .params
                .get(key)
                .or_else(|| deployed.and_then(|s| s.parameters.get(key)))
                .cloned()
                .or_else(|| crate::templates::parameter_default(key).map(str::to_owned))
                .unwrap_or_default()
        };
        let deployed_rag = deployed.and_then(|s| s.parameters.get("EnableRAG")).is_some_and(|v| v == "true");
        let rag = match request.params.get("EnableRAG") {
            Some(v) => v == "true",
            None => request.rag.unwrap_or(false) || deployed_rag,
        };
        Self {
            chat_model_id: value("ChatModelId"),
            rag,
            embedding_model_id: value("EmbeddingModelId"),
            embedding_dimensions: value("EmbeddingDimensions"),
            chat_reserved_concurrency: value("ChatReservedConcurrency"),
            serialize_ingestion: value("SerializeIngestion") != "false",
        }
    }
}

/// Runs the checks `request` needs, in order. `sdk` is the configuration to use, or why there is
/// none (the local target is not running).
pub async fn run(sdk: Result<&SdkConfig, String>, request: &Request) -> Vec<Check> {
    let mut checks = Vec::new();
    match sdk {
        Err(why) => {
            checks.push(Check::skip(names::REGION, format!("not checked: {why}")));
            skip(&mut checks, remote_checks(request.target), "see the emulator check", request);
        }
        Ok(sdk) => {
            let region = identity::region(sdk, &request.region_source);
            let has_region = region.outcome == Outcome::Pass;
            checks.push(region);
            if has_region {
                remote(sdk, request, &mut checks).await;
            } else {
                skip(&mut checks, remote_checks(request.target), "needs a Region", request);
            }
        }
    }
    if let Some(arch) = request.build {
        checks.push(toolchain::lambda_target(arch, &toolchain::probe()));
    }
    if let Some(need) = request.emulator {
        checks.push(emulator::check(request.env, need).await);
    }
    checks
}

/// The checks that call the target's APIs, in order; on the local target the Bedrock and quota
/// checks do not apply (the gateway runs its own model).
fn remote_checks(target: Target) -> &'static [&'static str] {
    match target {
        Target::Aws => &[
            names::CREDENTIALS,
            names::STACKS,
            names::CHAT_MODEL,
            names::EMBEDDING_MODEL,
            names::LAMBDA_CONCURRENCY,
            names::MODEL_QUOTA,
        ],
        Target::Local => &[names::CREDENTIALS, names::STACKS],
    }
}

fn skip(checks: &mut Vec<Check>, which: &[&'static str], why: &str, request: &Request) {
    // Whether RAG is on may be unreadable here; the embedding check is listed when it was asked for.
    let rag_asked = request.params.get("EnableRAG").map_or(request.rag == Some(true), |v| v == "true");
    for name in which.iter().filter(|n| **n != names::EMBEDDING_MODEL || rag_asked) {
        checks.push(Check::skip(name, format!("not checked: {why}")));
    }
}

async fn remote(sdk: &SdkConfig, request: &Request, checks: &mut Vec<Check>) {
    let credentials = identity::credentials(&aws_sdk_sts::Client::new(sdk)).await;
    let usable = credentials.outcome == Outcome::Pass;
    checks.push(credentials);
    if !usable {
        skip(checks, &remote_checks(request.target)[1..], "needs working credentials", request);
        return;
    }
    let (stacks, deployed) = stacks::check(&aws_sdk_cloudformation::Client::new(sdk), request.env).await;
    checks.push(stacks);
    if request.target == Target::Local {
        return;
    }
    let settings = Settings::resolve(request, deployed.as_ref());
    let region = sdk.region().map(|r| r.as_ref().to_owned()).unwrap_or_default();
    let runtime = aws_sdk_bedrockruntime::Client::new(sdk);
    checks.push(bedrock::chat_model(&runtime, &settings.chat_model_id, &region).await);
    if settings.rag {
        let (model, dimensions) = (&settings.embedding_model_id, &settings.embedding_dimensions);
        checks.push(bedrock::embedding_model(&runtime, model, dimensions, &region).await);
    }
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let function = format!("chatbot-chat-{}", request.env);
    let ingest = format!("chatbot-ingest-{}", request.env);
    let ingest = (settings.rag && settings.serialize_ingestion).then_some(ingest.as_str());
    let reserved = &settings.chat_reserved_concurrency;
    checks.push(quotas::lambda_concurrency(&lambda, &function, reserved, ingest).await);
    let service_quotas = aws_sdk_servicequotas::Client::new(sdk);
    checks.push(quotas::model_quota(&service_quotas, &settings.chat_model_id, &region).await);
}

/// What `opsctl deploy` checks before it changes anything, given its configuration: prints the
/// warnings and failures on stderr and fails when any check did.
pub async fn preflight(sdk: &SdkConfig, request: &Request, ui: &dyn Interaction) -> anyhow::Result<()> {
    let checks = run(Ok(sdk), request).await;
    let notable = render::render(&checks, |c| matches!(c.outcome, Outcome::Warn | Outcome::Fail));
    if !notable.is_empty() {
        ui.note(&notable);
    }
    if any_failed(&checks) {
        let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
        bail!(
            "deploy stopped before changing anything: {failed} check{} failed (above); `opsctl doctor` \
             lists them all",
            if failed == 1 { "" } else { "s" }
        );
    }
    ui.detail(&format!("checked before deploying: {}", render::tally(&checks)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(params: &[(&str, &str)], rag: Option<bool>) -> Request {
        Request {
            env: Env::Dev,
            target: Target::Aws,
            region_source: "AWS_REGION".into(),
            params: params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            rag,
            build: None,
            emulator: None,
        }
    }

    fn deployed(params: &[(&str, &str)]) -> StackInfo {
        StackInfo {
            name: "chatbot-dev".into(),
            id: "id".into(),
            status: "UPDATE_COMPLETE".into(),
            status_reason: None,
            parameters: params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            outputs: BTreeMap::new(),
            last_updated: None,
        }
    }

    #[test]
    fn settings_are_what_deploy_would_use() {
        let fresh = Settings::resolve(&request(&[], None), None);
        assert_eq!(fresh.chat_model_id, "us.anthropic.claude-sonnet-4-6", "the template's default");
        assert_eq!((fresh.rag, fresh.embedding_dimensions.as_str()), (false, "1024"));

        let stack = deployed(&[("ChatModelId", "eu.anthropic.claude-sonnet-4-6"), ("EnableRAG", "true")]);
        let kept = Settings::resolve(&request(&[], None), Some(&stack));
        assert_eq!(kept.chat_model_id, "eu.anthropic.claude-sonnet-4-6", "the deployed value is kept");
        assert!(kept.rag, "RAG stays on as deployed");

        let given =
            request(&[("ChatModelId", "jp.anthropic.claude-sonnet-4-6"), ("EnableRAG", "false")], Some(true));
        let overridden = Settings::resolve(&given, Some(&stack));
        assert_eq!(overridden.chat_model_id, "jp.anthropic.claude-sonnet-4-6", "--param wins");
        assert!(!overridden.rag, "--param EnableRAG wins over the flag, as in deploy");
        assert!(Settings::resolve(&request(&[], Some(true)), None).rag);
    }
}
