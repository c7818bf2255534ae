//! Titan Text Embeddings v2 on Bedrock as the [`Embedder`]: one InvokeModel per text (the model
//! takes one input), several in flight at once, in the order given.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::primitives::Blob;
use serde::{Deserialize, Serialize};

use crate::ports::{Embedder, RagError};

pub const DEFAULT_MODEL_ID: &str = "amazon.titan-embed-text-v2:0";
pub const DEFAULT_DIMENSIONS: usize = 1024;
pub const DEFAULT_CONCURRENCY: usize = 8;
/// One InvokeModel at a time, for callers that run their own concurrency (ingestion's
/// `embed_all` embeds one text per call, several calls at once) or embed a single text (a query).
pub const ONE_AT_A_TIME: usize = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest<'a> {
    input_text: &'a str,
    dimensions: usize,
    normalize: bool,
}

#[derive(Deserialize)]
struct TitanResponse {
    embedding: Vec<f32>,
}

#[derive(Clone)]
pub struct TitanEmbedder {
    client: Client,
    model_id: String,
    dimensions: usize,
    concurrency: usize,
}

impl TitanEmbedder {
    pub fn new(client: Client, model_id: impl Into<String>, dimensions: usize, concurrency: usize) -> Self {
        Self { client, model_id: model_id.into(), dimensions, concurrency: concurrency.max(1) }
    }

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, RagError> {
        let body = serde_json::to_vec(&TitanRequest {
            input_text: text,
            dimensions: self.dimensions,
            normalize: true,
        })
        .map_err(|e| RagError::Failed(format!("could not encode the Titan request: {e}")))?;
        // The SDK retries throttling with backoff; what reaches us has outlasted its retries.
        let out = self
            .client
            .invoke_model()
            .model_id(&self.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_throttling_exception() => {
                    RagError::Throttled(format!("{} is throttled", self.model_id))
                }
                _ => RagError::Failed(format!("embedding with {}: {}", self.model_id, super::describe(&e))),
            })?;
        let parsed: TitanResponse = serde_json::from_slice(out.body().as_ref())
            .map_err(|e| RagError::Failed(format!("{} answered without an embedding: {e}", self.model_id)))?;
        if parsed.embedding.len() != self.dimensions {
            return Err(RagError::Failed(format!(
                "{} returned {} dimensions, expected {}",
                self.model_id,
                parsed.embedding.len(),
                self.dimensions
            )));
        }
        Ok(parsed.embedding)
    }
}

#[async_trait]
impl Embedder for TitanEmbedder {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        let me = self.clone();
        crate::bounded::try_map_ordered(texts.to_vec(), self.concurrency, move |text| {
            let me = me.clone();
            async move { me.embed_one(&text).await }
        })
        .await
    }
}
