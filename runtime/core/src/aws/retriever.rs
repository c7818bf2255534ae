//! The chat Lambda's [`Retriever`]: a synchronous invoke of the retrieval Lambda.

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;

use crate::domain::api::{RetrieveRequest, RetrieveResponse};
use crate::domain::prompt::RetrievedChunk;
use crate::ports::{RagError, Retriever};

pub struct LambdaRetriever {
    client: Client,
    function: String,
}

impl LambdaRetriever {
    pub fn new(client: Client, function: impl Into<String>) -> Self {
        Self { client, function: function.into() }
    }
}

#[async_trait]
impl Retriever for LambdaRetriever {
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        let payload = serde_json::to_vec(&RetrieveRequest { query: query.to_owned(), k })
            .map_err(|e| RagError::Failed(format!("could not encode the retrieval request: {e}")))?;
        let out = self.client.invoke().function_name(&self.function).payload(Blob::new(payload)).send().await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception()) => {
                return Err(RagError::Throttled(format!("{} is throttled", self.function)));
            }
            Err(e) => {
                return Err(RagError::Failed(format!("invoking {}: {}", self.function, super::describe(&e))));
            }
        };
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            // The payload is Lambda's {"errorType", "errorMessage"}; it describes our own code's
            // failure, never the user's text, so it can go to the logs.
            let detail = String::from_utf8_lossy(&body[..body.len().min(500)]);
            return Err(RagError::Failed(format!("{} failed ({kind}): {detail}", self.function)));
        }
        serde_json::from_slice::<RetrieveResponse>(body).map(|r| r.chunks).map_err(|e| {
            RagError::Failed(format!("{} answered something other than chunks: {e}", self.function))
        })
    }
}
