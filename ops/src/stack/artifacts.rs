//! Uploads to the artifact bucket under content-hash keys: an object that exists is never sent
//! again, so an unchanged deploy uploads nothing.

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

/// Uploads `body` to `key` unless it is there already; returns whether it uploaded.
pub async fn upload_if_missing(s3: &Client, bucket: &str, key: &str, body: Vec<u8>) -> anyhow::Result<bool> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => return Ok(false),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => return Err(e).with_context(|| format!("checking s3://{bucket}/{key}")),
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(true)
}
