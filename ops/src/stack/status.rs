//! An environment's state: the stack, its parameters and outputs, each function's code, and
//! the alarms.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_cloudformation::Client as Cfn;
use serde::Serialize;

use crate::aws::Sdk;
use crate::config::Env;
use crate::functions::Function;
use crate::stack;
use crate::vector_store::{RetrievalStore, VectorStore};

#[derive(Debug, Serialize)]
pub struct FunctionStatus {
    pub name: String,
    pub code_sha256: String,
    pub last_modified: String,
    pub architecture: String,
    pub memory_mb: i32,
}

#[derive(Debug, Serialize)]
pub struct AlarmStatus {
    pub name: String,
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub stack: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// Where RAG keeps its chunks; `None` when RAG is off.
    pub vector_store: Option<RetrievalStore>,
    /// The store's own name: the vector bucket, or the collection (none for the local SQLite
    /// index, which is a file of the gateway's).
    pub vector_store_resource: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub functions: Vec<FunctionStatus>,
    pub alarms: Vec<AlarmStatus>,
    pub alarms_in_alarm: usize,
    pub alarms_error: Option<String>,
}

/// The shared alarm reader, as `{name, state}` with AWS's state names.
async fn read_alarms(cw: &aws_sdk_cloudwatch::Client, env: Env) -> anyhow::Result<Vec<AlarmStatus>> {
    let rows = crate::alarms::read_alarms(cw, env.as_str()).await?;
    Ok(rows.into_iter().map(|a| AlarmStatus { name: a.name, state: a.state.as_str().to_owned() }).collect())
}

/// The environment's state, or `None` when its stack is not deployed.
pub async fn read(sdk: &Sdk, env: Env) -> anyhow::Result<Option<Status>> {
    let sdk = &sdk.config;
    let root = stack::root_name(env);
    let Some(info) = stack::describe(&Cfn::new(sdk), &root).await?.filter(|s| s.status != "DELETE_COMPLETE")
    else {
        return Ok(None);
    };

    let lambda = aws_sdk_lambda::Client::new(sdk);
    let mut functions = Vec::new();
    for key in Function::ALL.map(Function::output_key) {
        let Some(name) = info.outputs.get(key) else { continue };
        let c = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .with_context(|| format!("reading {name}"))?;
        functions.push(FunctionStatus {
            name: name.clone(),
            code_sha256: c.code_sha256().unwrap_or_default().to_owned(),
            last_modified: c.last_modified().unwrap_or_default().to_owned(),
            architecture: c.architectures().first().map(|a| a.as_str().to_owned()).unwrap_or_default(),
            memory_mb: c.memory_size().unwrap_or_default(),
        });
    }

    // Status stays useful when alarms cannot be read (a missing permission, an emulator without
    // CloudWatch's protocol): the stack part is still shown, with the reason.
    let (alarms, alarms_error) = match read_alarms(&aws_sdk_cloudwatch::Client::new(sdk), env).await {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(crate::errors::explain(&e))),
    };
    let alarms_in_alarm = alarms.iter().filter(|a| a.state == "ALARM").count();
    let vector_store = VectorStore::in_use(&info.parameters).map(RetrievalStore::Stack);
    let vector_store_resource = vector_store.and_then(|s| store_resource(s, &info.outputs));
    let status = Status {
        stack: root,
        status: info.status,
        status_reason: info.status_reason,
        vector_store,
        vector_store_resource,
        parameters: info.parameters,
        outputs: info.outputs,
        functions,
        alarms,
        alarms_in_alarm,
        alarms_error,
    };
    Ok(Some(status))
}

impl Status {
    /// Names the store retrieval actually reads, when it is not the stack's (the local
    /// gateway's SQLite index): the stack's resource is then not the one in use.
    pub fn served_by(&mut self, store: Option<RetrievalStore>) {
        if store != self.vector_store {
            self.vector_store = store;
            self.vector_store_resource = store.and_then(|s| store_resource(s, &self.outputs));
        }
    }
}

/// The output naming the store's own resource.
fn store_resource(store: RetrievalStore, outputs: &BTreeMap<String, String>) -> Option<String> {
    let key = match store {
        RetrievalStore::Stack(VectorStore::S3Vectors) => "VectorBucketName",
        RetrievalStore::Stack(VectorStore::OpenSearch) => "CollectionName",
        RetrievalStore::LocalSqlite => return None,
    };
    outputs
        .get(key)
        .or_else(|| outputs.get("CollectionEndpoint").filter(|_| key == "CollectionName"))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_named_by_its_own_output() {
        let outputs: BTreeMap<String, String> = [
            ("VectorBucketName", "chatbot-vectors-dev"),
            ("CollectionEndpoint", "https://x.us-east-1.aoss.amazonaws.com"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let s3 = RetrievalStore::Stack(VectorStore::S3Vectors);
        assert_eq!(store_resource(s3, &outputs).as_deref(), Some("chatbot-vectors-dev"));
        let os = store_resource(RetrievalStore::Stack(VectorStore::OpenSearch), &outputs);
        assert_eq!(
            os.as_deref(),
            Some("https://x.us-east-1.aoss.amazonaws.com"),
            "an older stack's endpoint"
        );
        assert_eq!(store_resource(s3, &BTreeMap::new()), None);
        assert_eq!(store_resource(RetrievalStore::LocalSqlite, &outputs), None, "the bucket is not in use");
    }
}
