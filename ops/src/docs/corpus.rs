//! How big the indexed corpus is, for the cost of a vector store: S3 Vectors' own count (one
//! manifest per document in the `manifests` index), or the documents in the bucket when the
//! index cannot say (an OpenSearch collection, which opsctl does not query).

use anyhow::Context;
use chatbot_core::aws::s3vectors::{DEFAULT_CHUNKS_INDEX, DEFAULT_MANIFESTS_INDEX, S3VectorsIndex};

use crate::deployed::Deployed;
use crate::docs::PREFIX;
use crate::vector_store::{self, Corpus, Size, VectorStore};

/// The size of the corpus in the store the stack uses, with the reason when only a rougher
/// one could be had. Never fails: a cost estimate must not stop a command.
pub async fn size(d: &Deployed) -> (Size, Option<String>) {
    let documents = || async {
        match document_count(d).await {
            Ok(n) => Size::Documents(n),
            Err(_) => Size::Unknown,
        }
    };
    match VectorStore::in_use(&d.parameters) {
        Some(VectorStore::S3Vectors) => match indexed(d).await {
            Ok(c) => (Size::Indexed(c), None),
            Err(e) => (documents().await, Some(format!("the vector index could not be read: {e:#}"))),
        },
        _ => (documents().await, None),
    }
}

/// The S3 Vectors index's own count.
pub async fn indexed(d: &Deployed) -> anyhow::Result<Corpus> {
    let bucket = d.output("VectorBucketName")?;
    let dimensions = vector_store::dimensions(&d.parameters);
    s3_vectors_corpus(d, bucket, dimensions).await
}

/// Pages through the manifests index: one request per 1,000 documents.
async fn s3_vectors_corpus(d: &Deployed, bucket: &str, dimensions: u32) -> anyhow::Result<Corpus> {
    let index = S3VectorsIndex::new(
        S3VectorsIndex::client(&d.sdk),
        bucket,
        DEFAULT_CHUNKS_INDEX,
        DEFAULT_MANIFESTS_INDEX,
        dimensions as usize,
    )?;
    let c =
        index.corpus().await.with_context(|| format!("reading the manifests of vector bucket {bucket}"))?;
    Ok(Corpus { documents: c.documents, chunks: c.chunks, bytes: c.bytes })
}

/// The documents under `docs/` in the documents bucket.
pub async fn document_count(d: &Deployed) -> anyhow::Result<u64> {
    let bucket = d.output("DocumentsBucket")?;
    let s3 = aws_sdk_s3::Client::new(&d.sdk);
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(PREFIX).into_paginator().send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page.with_context(|| format!("listing s3://{bucket}/{PREFIX}"))?.contents().len() as u64;
    }
    Ok(n)
}
