//! The documents bucket as the web app's [`DocumentLibrary`]: a listing of `docs/`, a presigned
//! PUT for an upload, and deletes. The chat Lambda never carries a document's bytes: the
//! browser sends them to S3 itself, on a URL signed for one key, one content type and one size.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::s3::etag;
use crate::domain::documents::PREFIX;
use crate::ports::{DocumentLibrary, LibraryError, StoredDocument, UploadTarget};

/// How long an upload URL works. The browser starts the upload at once; a URL that leaks
/// later (a proxy's log) is dead by then.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

pub struct S3Library {
    client: Client,
    bucket: String,
}

impl S3Library {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// The origin presigned URLs for `bucket` in `region` have (the SDK signs virtual-hosted,
/// regional URLs): the one extra origin the web app's CSP `connect-src` must allow on AWS, and
/// the one whose CORS rule must allow the app's origin.
pub fn bucket_origin(bucket: &str, region: &str) -> String {
    format!("https://{bucket}.s3.{region}.amazonaws.com")
}

fn failed(what: &str, e: impl std::error::Error) -> LibraryError {
    LibraryError::Failed(format!("{what}: {}", super::describe(&e)))
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> String {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[async_trait]
impl DocumentLibrary for S3Library {
    async fn list(&self) -> Result<Vec<StoredDocument>, LibraryError> {
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(PREFIX).into_paginator().send();
        let mut documents = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed(&format!("listing s3://{}/{PREFIX}", self.bucket), e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                documents.push(StoredDocument {
                    key: key.to_owned(),
                    size: object.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    last_modified: rfc3339(object.last_modified()),
                    version: etag(object.e_tag()),
                });
            }
        }
        Ok(documents)
    }

    /// Signs the content type and the length with the key: S3 refuses a PUT that sends another
    /// type or another number of bytes. The browser sets `Content-Length` itself (a page may
    /// not), so only `Content-Type` is handed back as a header to send.
    async fn upload_target(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
    ) -> Result<UploadTarget, LibraryError> {
        let config = PresigningConfig::expires_in(UPLOAD_URL_LIFETIME)
            .map_err(|e| failed("the presigning config", e))?;
        let length = i64::try_from(size).map_err(|_| LibraryError::Failed("an impossible size".into()))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|e| failed(&format!("presigning a PUT of s3://{}/{key}", self.bucket), e))?;
        let headers: BTreeMap<String, String> = presigned
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Ok(UploadTarget { method: presigned.method().to_owned(), url: presigned.uri().to_owned(), headers })
    }

    /// Looked up by listing (the key as prefix), not HeadObject: the chat role may list `docs/`
    /// and delete in it, but never read a document.
    async fn delete(&self, key: &str) -> Result<(), LibraryError> {
        let found = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| failed(&format!("looking up s3://{}/{key}", self.bucket), e))?;
        if !found.contents().iter().any(|o| o.key() == Some(key)) {
            return Err(LibraryError::NotFound);
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failed(&format!("deleting s3://{}/{key}", self.bucket), e))?;
        Ok(())
    }
}

/// Stores `bytes` under `key` with the content type of its kind: the local target's direct
/// upload, which stands in for the browser's PUT to S3.
pub async fn put_object(client: &Client, bucket: &str, key: &str, bytes: &[u8]) -> Result<(), LibraryError> {
    let kind = crate::domain::extract::DocumentKind::of(key)
        .ok_or_else(|| LibraryError::Failed(format!("{key} is not a type ingestion reads")))?;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(crate::domain::documents::content_type(kind))
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
        .send()
        .await
        .map_err(|e| failed(&format!("uploading s3://{bucket}/{key}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{Credentials, Region};

    fn client(region: &str) -> Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("token".into()),
                None,
                "test",
            ))
            .region(Region::new(region.to_owned()))
            .build();
        Client::from_conf(config)
    }

    #[tokio::test]
    async fn an_upload_url_signs_the_type_and_length_expires_in_15_minutes_and_has_the_bucket_origin() {
        for region in ["us-east-1", "eu-west-1"] {
            let library = S3Library::new(client(region), "chatbot-documents-dev-1-x");
            let target = library
                .upload_target("docs/trips/porto.md", 1234, "text/markdown; charset=utf-8")
                .await
                .unwrap();
            assert_eq!(target.method, "PUT");
            let origin = bucket_origin("chatbot-documents-dev-1-x", region);
            assert!(target.url.starts_with(&format!("{origin}/docs/trips/porto.md?")), "{}", target.url);
            assert!(target.url.contains("X-Amz-Expires=900"), "{}", target.url);
            assert!(
                target.url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
                "{}",
                target.url
            );
            // Only what a page may set: the browser sends Content-Length itself.
            let headers: Vec<(&str, &str)> =
                target.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(headers, [("content-type", "text/markdown; charset=utf-8")]);
        }
    }
}
