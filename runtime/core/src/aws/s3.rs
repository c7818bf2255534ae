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
    async fn get(&self, key: &str) -> Result<Option<Document>, RagError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            // Deleted since the event was sent: the caller makes the index forget it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(RagError::Failed(format!(
                    "reading s3://{}/{key}: {}",
                    self.bucket,
                    super::describe(&e)
                )));
            }
        };
        let version = etag(out.e_tag());
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
        Ok(Some(Document { key: key.to_owned(), bytes: bytes.to_vec(), version }))
    }

    async fn exists(&self, key: &str) -> Result<bool, RagError> {
        Ok(self.version(key).await?.is_some())
    }

    async fn version(&self, key: &str) -> Result<Option<String>, RagError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(etag(out.e_tag()))),
            // Also what a delete marker answers: the key's current version is "deleted".
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(RagError::Failed(format!(
                "checking whether s3://{}/{key} exists: {}",
                self.bucket,
                super::describe(&e)
            ))),
        }
    }
}

/// An ETag without the quotes S3 wraps it in, so listings and reads compare equal.
pub fn etag(raw: Option<&str>) -> String {
    raw.unwrap_or_default().trim_matches('"').to_owned()
}
