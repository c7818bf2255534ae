//! The documents RAG answers from, in the documents bucket under `docs/`.
//!
//! On the local target `put` and `rm` hand the same S3 notification the bucket would send to the
//! gateway, which runs the ingestion handler before answering, so the command reports the chunks
//! indexed. On AWS the bucket notifies the ingestion Lambda itself; `put` then waits for the
//! Lambda's "document done" log line for each upload, showing progress, until a timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chatbot_core::domain::extract::{DocumentKind, ExtractLimits};
use serde_json::{Value, json};

use crate::config::Target;
use crate::deployed::Deployed;
use crate::interact::Interaction;

pub mod corpus;
pub mod ingest_wait;
pub mod reindex;

/// Where ingestion reads documents from; the bucket notifies only for this prefix.
pub const PREFIX: &str = "docs/";

/// One file to upload, and the key it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub path: PathBuf,
    pub key: String,
    pub size: u64,
}

/// The files named by `paths` (directories walked, in name order), checked before anything is
/// uploaded: every one readable, of a type ingestion reads and within its size limit.
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<(Vec<Upload>, Vec<PathBuf>)> {
    let mut uploads = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read it", path.display()))?;
        if meta.is_dir() {
            walk(path, path, &mut uploads, &mut skipped)?;
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: the file name is not UTF-8; rename it", path.display()))?;
        if DocumentKind::of(name).is_none() {
            bail!(
                "{}: unsupported type; only .pdf, .md, .markdown, .txt and .text are ingested",
                path.display()
            );
        }
        uploads.push(Upload { path: path.clone(), key: format!("{PREFIX}{name}"), size: meta.len() });
    }
    let limit = ExtractLimits::default().max_bytes;
    let too_big: Vec<String> = uploads
        .iter()
        .filter(|u| u.size > limit)
        .map(|u| format!("{} ({} bytes)", u.path.display(), u.size))
        .collect();
    if !too_big.is_empty() {
        bail!("over the {limit}-byte limit, so nothing was uploaded: {}", too_big.join(", "));
    }
    let mut keys: Vec<&str> = uploads.iter().map(|u| u.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        bail!("two files would both be stored as {}: rename one or upload them separately", w[0]);
    }
    if uploads.is_empty() {
        bail!(
            "no document to upload: give .pdf, .md, .markdown, .txt or .text files, or folders holding them"
        );
    }
    Ok((uploads, skipped))
}

fn walk(
    root: &Path,
    dir: &Path,
    uploads: &mut Vec<Upload>,
    skipped: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list it", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: cannot list it", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = std::fs::metadata(&path).with_context(|| format!("{}: cannot read it", path.display()))?;
        if meta.is_dir() {
            walk(root, &path, uploads, skipped)?;
            continue;
        }
        let Some(relative) = path.strip_prefix(root).ok().and_then(|r| r.to_str()) else {
            skipped.push(path);
            continue;
        };
        if DocumentKind::of(relative).is_none() || relative.split('/').any(|p| p.starts_with('.')) {
            skipped.push(path);
            continue;
        }
        uploads.push(Upload { key: format!("{PREFIX}{relative}"), path, size: meta.len() });
    }
    Ok(())
}

/// `name` as a key under `docs/`, whether or not it was given with the prefix.
pub fn key_of(name: &str) -> anyhow::Result<String> {
    let name = name.strip_prefix(PREFIX).unwrap_or(name).trim_start_matches('/');
    if name.is_empty() {
        bail!("an empty document name: give a name as `opsctl docs ls` prints it");
    }
    Ok(format!("{PREFIX}{name}"))
}

/// Uploads `uploads` and returns ingestion's verdict on each (or a timeout entry on AWS).
pub async fn put_files(
    d: &Deployed,
    ui: &dyn Interaction,
    uploads: &[Upload],
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let bucket = d.output("DocumentsBucket")?;
    let s3 = aws_sdk_s3::Client::new(&d.sdk);
    let started = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    for u in uploads {
        ui.note(&format!("uploading {} → s3://{bucket}/{} ({} bytes)", u.path.display(), u.key, u.size));
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&u.path)
            .await
            .with_context(|| format!("reading {}", u.path.display()))?;
        s3.put_object()
            .bucket(bucket)
            .key(&u.key)
            .content_type(content_type(&u.key))
            .body(body)
            .send()
            .await
            .with_context(|| format!("uploading {} to s3://{bucket}/{}", u.path.display(), u.key))?;
    }
    let keys: Vec<String> = uploads.iter().map(|u| u.key.clone()).collect();
    match d.target {
        Target::Local => ingest_locally(d, ui, bucket, &keys, "ObjectCreated:Put").await,
        Target::Aws => ingest_wait::wait(d, ui, &keys, started, timeout).await,
    }
}

/// Deletes `keys` (all of them checked first) and returns ingestion's verdict on each.
pub async fn remove_keys(
    d: &Deployed,
    ui: &dyn Interaction,
    keys: &[String],
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let bucket = d.output("DocumentsBucket")?;
    let s3 = aws_sdk_s3::Client::new(&d.sdk);
    // Check them all first: a typo in the third name must not leave the first two deleted.
    for key in keys {
        if let Err(e) = s3.head_object().bucket(bucket).key(key).send().await {
            if e.as_service_error().is_some_and(|s| s.is_not_found()) {
                bail!(
                    "{key} is not in s3://{bucket}: `opsctl docs ls` lists the documents; nothing was deleted"
                );
            }
            return Err(e).with_context(|| format!("looking up s3://{bucket}/{key}"));
        }
    }
    let started = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    for key in keys {
        ui.note(&format!("deleting s3://{bucket}/{key}"));
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("deleting s3://{bucket}/{key}"))?;
    }
    match d.target {
        Target::Local if d.rag => ingest_locally(d, ui, bucket, keys, "ObjectRemoved:Delete").await,
        Target::Aws if d.rag => ingest_wait::wait(d, ui, keys, started, timeout).await,
        _ => Ok(keys.iter().map(|k| json!({"key": k, "removed": true})).collect()),
    }
}

fn content_type(key: &str) -> &'static str {
    match DocumentKind::of(key) {
        Some(DocumentKind::Pdf) => "application/pdf",
        Some(DocumentKind::Markdown) => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// The local target: the gateway runs the ingestion handler on the event S3 would have sent.
async fn ingest_locally(
    d: &Deployed,
    ui: &dyn Interaction,
    bucket: &str,
    keys: &[String],
    event: &str,
) -> anyhow::Result<Vec<Value>> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // S3 URL-encodes keys in notifications; '/' and the unreserved marks stay as they are.
    const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({"eventSource": "aws:s3", "eventName": event,
                   "s3": {"bucket": {"name": bucket}, "object": {"key": utf8_percent_encode(k, KEY).to_string()}}})
        })
        .collect();
    ui.note(&format!("updating the index for {} document(s) on the local target ...", keys.len()));
    let response = reqwest::Client::new()
        .post(format!("{}{}", d.api_url, crate::local::gateway::INGEST_PATH))
        .bearer_auth(d.token().await?)
        .timeout(Duration::from_secs(600))
        .json(&json!({ "Records": records }))
        .send()
        .await
        .with_context(|| format!("could not reach the gateway at {}: `opsctl local status`", d.api_url))?;
    let status = response.status();
    let body: Value =
        response.json().await.with_context(|| format!("the gateway answered {status} without JSON"))?;
    if !status.is_success() {
        let reason = body["error"]["message"].as_str().unwrap_or("no reason given");
        bail!(
            "ingestion failed ({status}): {reason}. The documents are uploaded; `opsctl docs put` them again to retry"
        );
    }
    Ok(body["documents"].as_array().cloned().unwrap_or_default())
}

/// The documents under `docs/`: name, key, size and last change, in key order.
pub async fn list(d: &Deployed) -> anyhow::Result<(String, Vec<Value>)> {
    let bucket = d.output("DocumentsBucket")?;
    let s3 = aws_sdk_s3::Client::new(&d.sdk);
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(PREFIX).into_paginator().send();
    let mut docs = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing s3://{bucket}/{PREFIX}"))?;
        for o in page.contents() {
            let key = o.key().unwrap_or_default();
            docs.push(json!({
                "name": key.strip_prefix(PREFIX).unwrap_or(key),
                "key": key,
                "size": o.size().unwrap_or_default(),
                "last_modified": o.last_modified().map(|t| t.to_string()),
            }));
        }
    }
    Ok((bucket.to_owned(), docs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_walks_folders_skips_other_types_and_refuses_bad_files() {
        let dir = std::env::temp_dir().join(format!("opsctl-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b.md"), "# b").unwrap();
        std::fs::write(dir.join("sub/a.pdf"), "%PDF").unwrap();
        std::fs::write(dir.join("image.png"), "x").unwrap();
        let (uploads, skipped) = collect(std::slice::from_ref(&dir)).unwrap();
        let keys: Vec<&str> = uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["docs/b.md", "docs/sub/a.pdf"]);
        assert_eq!(skipped, [dir.join("image.png")]);

        let err = collect(&[dir.join("image.png")]).unwrap_err().to_string();
        assert!(err.contains("unsupported type"), "{err}");
        let err = collect(&[dir.join("missing.md")]).unwrap_err().to_string();
        assert!(err.contains("cannot read it"), "{err}");
        let err = collect(&[dir.join("b.md"), dir.join("b.md")]).unwrap_err().to_string();
        assert!(err.contains("both be stored as docs/b.md"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_become_keys_under_docs() {
        assert_eq!(key_of("notes.md").unwrap(), "docs/notes.md");
        assert_eq!(key_of("docs/notes.md").unwrap(), "docs/notes.md");
        assert!(key_of("docs/").is_err());
    }
}
