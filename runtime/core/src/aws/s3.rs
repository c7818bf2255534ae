//! S3 as the [`DocumentSource`]: the documents bucket that ingestion reads.

use async_trait::async_trait;
use aws_sdk_s3::Client;

use crate::ports::{Document, DocumentSource, RagError};

pub struct S3Documents {
    client: Client,
    bucket: String,
    max_bytes: u64,
}

impl S3Documents {
    /// Objects over `max_bytes` are refused before their body is read.
    pub fn new(client: Client, bucket: impl Into<String>, max_bytes: u64) -> Self {
        Self { client, bucket: bucket.into(), max_bytes }
    }
}

#[async_trait]
impl DocumentSource for S3Documents {
    async fn get(&self, key: &str) -> Result<Document, RagError> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
            match e.as_service_error() {
                // Deleted since the event was sent: its removal event cleans the index.
                Some(s) if s.is_no_such_key() => {
                    RagError::Rejected(format!("s3://{}/{key} no longer exists", self.bucket))
                }
                _ => RagError::Failed(format!("reading s3://{}/{key}: {}", self.bucket, super::describe(&e))),
            }
        })?;
        let size = out.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if size > self.max_bytes {
            return Err(RagError::Rejected(format!(
                "s3://{}/{key} is {size} bytes, over the {}-byte limit",
                self.bucket, self.max_bytes
            )));
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| RagError::Failed(format!("reading the body of s3://{}/{key}: {e}", self.bucket)))?
            .into_bytes();
        Ok(Document { key: key.to_owned(), bytes: bytes.to_vec() })
    }
}
