//! A deployed environment as the commands that use it (`chat`, `docs`, `smoke`) see it: its
//! stack outputs and API, on AWS or on the local target alike.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::SdkConfig;

use crate::config::{Env, Target};
use crate::local::state;
use crate::vector_store::{RetrievalStore, VectorStore};
use crate::{stack, token};

pub struct Deployed {
    pub env: Env,
    pub target: Target,
    pub sdk: SdkConfig,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    pub rag: bool,
    /// The chat API's base URL, without a trailing slash: the local gateway, or `ApiUrl`.
    pub api_url: String,
}

impl Deployed {
    /// The environment `env` deployed on `target`, reached through `sdk`.
    pub async fn locate(sdk: SdkConfig, env: Env, target: Target) -> anyhow::Result<Self> {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        let info = stack::describe(&cfn, &stack::root_name(env)).await?.with_context(|| match target {
            Target::Local => {
                format!("the local target of {env} has no stack: run `opsctl local up --env {env}`")
            }
            Target::Aws => {
                format!("{} is not deployed: run `opsctl deploy --env {env}` first", stack::root_name(env))
            }
        })?;
        let rag = info.parameters.get("EnableRAG").is_some_and(|v| v == "true");
        let api_url = match target {
            Target::Local => state::load(env)?.and_then(|s| s.gateway_url()).with_context(|| {
                format!("the local target of {env} has no gateway: run `opsctl local up --env {env}`")
            })?,
            Target::Aws => info.outputs.get("ApiUrl").cloned().context("the stack has no ApiUrl output")?,
        };
        Ok(Self {
            env,
            target,
            sdk,
            outputs: info.outputs,
            parameters: info.parameters,
            rag,
            api_url: api_url.trim_end_matches('/').to_owned(),
        })
    }

    /// A stack output every deployment has; its absence means a stack from another version.
    pub fn output(&self, key: &str) -> anyhow::Result<&str> {
        self.outputs.get(key).map(String::as_str).with_context(|| {
            format!(
                "the stack has no {key} output: redeploy it with this opsctl (`opsctl deploy --env {}`)",
                self.env
            )
        })
    }

    /// The API token, from the SSM parameter the first deploy created.
    pub async fn token(&self) -> anyhow::Result<String> {
        let name = token::parameter_name(self.env);
        token::read(&aws_sdk_ssm::Client::new(&self.sdk), &name)
            .await?
            .with_context(|| format!("no API token at {name}: `opsctl deploy` creates it"))
    }

    /// The store retrieval reads from, `None` with RAG off.
    pub fn retrieval_store(&self) -> anyhow::Result<Option<RetrievalStore>> {
        retrieval_store(self.env, self.target, &self.parameters)
    }

    /// Fails with the command that turns RAG on when it is off.
    pub fn require_rag(&self, what: &str) -> anyhow::Result<()> {
        if self.rag {
            return Ok(());
        }
        let env = self.env;
        anyhow::bail!(match self.target {
            Target::Local => format!(
                "{what} needs RAG, which is off on the local target of {env}: restart it with \
                 `opsctl local down --env {env}` then `opsctl local up --env {env} --rag`"
            ),
            Target::Aws =>
                format!("{what} needs RAG, which is off in {env}: `opsctl enable-rag --env {env}`"),
        })
    }
}

/// The store retrieval reads from in `env` on `target`, given its stack's parameters: the
/// stack's store, unless the local gateway was started on its own SQLite index.
pub fn retrieval_store(
    env: Env,
    target: Target,
    parameters: &BTreeMap<String, String>,
) -> anyhow::Result<Option<RetrievalStore>> {
    let Some(store) = VectorStore::in_use(parameters) else { return Ok(None) };
    if target == Target::Local
        && state::load(env)?.is_some_and(|s| s.rag && s.vector_store == state::VectorStore::Sqlite)
    {
        return Ok(Some(RetrievalStore::LocalSqlite));
    }
    Ok(Some(RetrievalStore::Stack(store)))
}
