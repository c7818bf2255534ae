//! The documents RAG answers from, as the web app manages them: the library (the bucket's
//! `docs/` prefix) and the indexing status ingestion records for each document.

use std::collections::BTreeMap;

use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LibraryError {
    /// The key is not in the library.
    #[error("no such document")]
    NotFound,
    /// What the library cannot do on this target (a direct upload on AWS, where uploads go to S3).
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("the document library failed: {0}")]
    Failed(String),
}

/// A document in the library, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// The object key, `docs/<name>`.
    pub key: String,
    pub size: u64,
    /// RFC 3339.
    pub last_modified: String,
    /// What identifies this version of the content (the S3 ETag): the version a status record
    /// must name to describe it.
    pub version: String,
}

/// Where and how a client uploads a document's bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadTarget {
    pub method: String,
    /// A presigned S3 URL on AWS; on the local target a same-origin path relative to the app.
    pub url: String,
    /// Exactly the headers the upload must carry (the signed ones on AWS).
    pub headers: BTreeMap<String, String>,
}

#[async_trait]
pub trait DocumentLibrary: Send + Sync {
    /// Every document under `docs/`, in key order.
    async fn list(&self) -> Result<Vec<StoredDocument>, LibraryError>;
    /// Where to PUT `size` bytes of `content_type` for `key`, valid for a short while.
    async fn upload_target(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
    ) -> Result<UploadTarget, LibraryError>;
    /// Deletes `key`; [`LibraryError::NotFound`] when it is not there.
    async fn delete(&self, key: &str) -> Result<(), LibraryError>;
    /// Stores `bytes` under `key` directly: only the local target's gateway does this, in place
    /// of the presigned upload.
    async fn put(&self, _key: &str, _bytes: &[u8]) -> Result<(), LibraryError> {
        Err(LibraryError::Unsupported(
            "upload to the URL that POST /documents/uploads returns; this target takes no direct upload",
        ))
    }
}

/// What ingestion last concluded about one version of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexState {
    Indexed {
        chunks: u32,
    },
    /// A permanent failure: retrying the same bytes cannot help.
    Failed {
        reason: String,
    },
}

/// The status record ingestion writes for a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentStatus {
    pub key: String,
    /// The version (ETag) of the content this record describes.
    pub version: String,
    pub sha256: String,
    pub state: IndexState,
    /// When it was recorded, RFC 3339.
    pub recorded_at: String,
}

#[derive(Debug, Error)]
#[error("the document status store failed: {0}")]
pub struct StatusError(pub String);

#[async_trait]
pub trait DocumentStatuses: Send + Sync {
    /// Replaces the record of `status.key`.
    async fn record(&self, status: &DocumentStatus) -> Result<(), StatusError>;
    /// Drops the record of a document that is gone.
    async fn forget(&self, key: &str) -> Result<(), StatusError>;
    /// Every record.
    async fn all(&self) -> Result<Vec<DocumentStatus>, StatusError>;
}
