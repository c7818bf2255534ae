//! Turning RAG on or off, or switching its vector store: change only `EnableRAG` and
//! `VectorStore`, through the deploy path. What to change is decided first ([`decide`]), so the
//! caller can state the cost before anything changes.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::Parameter;

use crate::aws::Sdk;
use crate::config::Env;
use crate::interact::Interaction;
use crate::stack::changeset::{PlannedChange, Template};
use crate::stack::rollout::{self, Approval, Failed, Outcome};
use crate::stack::{self, StackInfo};
use crate::vector_store::{self, VectorStore};

/// How a switch ended.
pub enum Switch {
    /// RAG was already as asked.
    Already(StackInfo),
    Applied {
        info: Option<StackInfo>,
        changes: Vec<PlannedChange>,
    },
    Unchanged {
        info: Option<StackInfo>,
    },
    Declined,
    Failed(Failed),
}

/// What turning RAG on with a store means for a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// RAG is on with that store already.
    Already(VectorStore),
    /// RAG is off: turn it on with this store.
    Enable(VectorStore),
    /// RAG is on with `from`: move it to `to`, then every document must be indexed again.
    Switch { from: VectorStore, to: VectorStore },
}

impl Decision {
    /// The store RAG will use.
    pub fn store(self) -> VectorStore {
        match self {
            Decision::Already(s) | Decision::Enable(s) => s,
            Decision::Switch { to, .. } => to,
        }
    }
}

/// What enable-rag with `asked` (or no `--vector-store`) does to a stack with `parameters`:
/// without the flag, the stack's current store is kept.
pub fn decide(
    parameters: &BTreeMap<String, String>,
    asked: Option<VectorStore>,
    env: Env,
) -> anyhow::Result<Decision> {
    let store = asked.unwrap_or_else(|| VectorStore::configured(parameters));
    let knows_stores = parameters.contains_key(vector_store::PARAMETER);
    if !knows_stores && store != VectorStore::OpenSearch {
        bail!(
            "{} was deployed before RAG could use S3 Vectors: run `opsctl deploy --env {env} --enable-rag \
             --vector-store {store}`, which deploys this opsctl's templates",
            stack::root_name(env)
        );
    }
    Ok(match VectorStore::in_use(parameters) {
        Some(current) if current == store => Decision::Already(store),
        Some(current) => Decision::Switch { from: current, to: store },
        None => {
            let missing = ["IngestCodeKey", "RetrieveCodeKey"]
                .iter()
                .any(|k| parameters.get(*k).is_none_or(|v| v.is_empty()));
            if missing {
                bail!(
                    "{} was deployed without the ingest and retrieve Lambdas: run `opsctl deploy --env {env} \
                     --enable-rag`, which packages them",
                    stack::root_name(env)
                );
            }
            Decision::Enable(store)
        }
    })
}

/// The root stack, which must exist.
pub async fn existing(sdk: &Sdk, env: Env) -> anyhow::Result<StackInfo> {
    let root = stack::root_name(env);
    stack::describe(&Cfn::new(&sdk.config), &root)
        .await?
        .filter(StackInfo::is_live)
        .with_context(|| format!("{root} does not exist: run `opsctl deploy --env {env}` first"))
}

/// Turns RAG on with `store`, or off with `None`, changing nothing else.
pub async fn set(
    sdk: &Sdk,
    env: Env,
    store: Option<VectorStore>,
    approval: Approval,
    ui: &dyn Interaction,
) -> anyhow::Result<Switch> {
    rollout::require_approval(approval, ui, "change RAG")?;
    let cfn = Cfn::new(&sdk.config);
    let root = stack::root_name(env);
    let existing = existing(sdk, env).await?;
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    match store {
        Some(store) => {
            if let Decision::Already(s) = decide(&existing.parameters, Some(store), env)? {
                ui.note(&format!("RAG is already on for {root}, with {}", s.title()));
                return Ok(Switch::Already(existing));
            }
            values.insert("EnableRAG", "true".into());
            if existing.parameters.contains_key(vector_store::PARAMETER) {
                values.insert(vector_store::PARAMETER, store.as_str().into());
            }
        }
        None => {
            if VectorStore::in_use(&existing.parameters).is_none() {
                ui.note(&format!("RAG is already off for {root}"));
                return Ok(Switch::Already(existing));
            }
            let docs =
                existing.outputs.get("DocumentsBucket").map(String::as_str).unwrap_or("the documents bucket");
            ui.note(&format!(
                "warning: the vector store and every indexed chunk will be deleted. Your documents stay in \
                 s3://{docs}/docs/; enable-rag indexes them again."
            ));
            values.insert("EnableRAG", "false".into());
        }
    }
    let parameters = existing
        .parameters
        .keys()
        .map(|k| match values.get(k.as_str()) {
            Some(v) => Parameter::builder().parameter_key(k).parameter_value(v).build(),
            None => Parameter::builder().parameter_key(k).use_previous_value(true).build(),
        })
        .collect();
    Ok(match rollout::apply(&cfn, ui, &root, Template::Previous, parameters, true, approval).await? {
        Outcome::Applied(plan) => {
            Switch::Applied { info: stack::describe(&cfn, &root).await?, changes: plan.changes }
        }
        Outcome::NoChanges => Switch::Unchanged { info: stack::describe(&cfn, &root).await? },
        Outcome::Declined => Switch::Declined,
        Outcome::Failed(failed) => Switch::Failed(failed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [("IngestCodeKey", "i"), ("RetrieveCodeKey", "r")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        p.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        p
    }

    #[test]
    fn without_the_flag_the_stacks_store_is_kept() {
        let off = params(&[("EnableRAG", "false"), ("VectorStore", "s3vectors")]);
        assert_eq!(decide(&off, None, Env::Dev).unwrap(), Decision::Enable(VectorStore::S3Vectors));
        let on = params(&[("EnableRAG", "true"), ("VectorStore", "opensearch")]);
        assert_eq!(decide(&on, None, Env::Dev).unwrap(), Decision::Already(VectorStore::OpenSearch));
        assert_eq!(
            decide(&on, Some(VectorStore::S3Vectors), Env::Dev).unwrap(),
            Decision::Switch { from: VectorStore::OpenSearch, to: VectorStore::S3Vectors }
        );
    }

    #[test]
    fn a_stack_from_before_the_parameter_keeps_opensearch_or_is_sent_to_deploy() {
        let old_on = params(&[("EnableRAG", "true")]);
        assert_eq!(decide(&old_on, None, Env::Dev).unwrap(), Decision::Already(VectorStore::OpenSearch));
        let err = decide(&old_on, Some(VectorStore::S3Vectors), Env::Dev).unwrap_err().to_string();
        assert!(err.contains("opsctl deploy --env dev --enable-rag --vector-store s3vectors"), "{err}");
        let old_off = params(&[("EnableRAG", "false")]);
        assert_eq!(
            decide(&old_off, Some(VectorStore::OpenSearch), Env::Dev).unwrap(),
            Decision::Enable(VectorStore::OpenSearch)
        );
    }

    #[test]
    fn turning_rag_on_needs_its_lambdas() {
        let mut p = params(&[("EnableRAG", "false"), ("VectorStore", "s3vectors")]);
        p.insert("IngestCodeKey".into(), String::new());
        let err = decide(&p, None, Env::Prod).unwrap_err().to_string();
        assert!(err.contains("opsctl deploy --env prod --enable-rag"), "{err}");
    }
}
