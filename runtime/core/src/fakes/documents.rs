//! The documents bucket and the status records in memory: one map serves ingestion (as its
//! [`DocumentSource`]) and the documents API (as its [`DocumentLibrary`]), as the bucket does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::ports::{
    Document, DocumentLibrary, DocumentSource, DocumentStatus, DocumentStatuses, LibraryError, RagError,
    StatusError, StoredDocument, UploadTarget,
};

struct Stored {
    bytes: Vec<u8>,
    version: String,
}

/// Documents in a map, keyed like S3 object keys. A version is the content's digest, as an
/// S3 ETag is for a single-part upload.
#[derive(Default)]
pub struct InMemoryDocuments {
    docs: Mutex<BTreeMap<String, Stored>>,
    /// Direct uploads (`put`), which only the local target takes, are refused unless allowed.
    direct_uploads: AtomicBool,
    failing: AtomicBool,
    uploads_issued: Mutex<Vec<(String, u64, String)>>,
}

/// When the fake says every document was last changed.
pub const LAST_MODIFIED: &str = "2026-12-04T10:00:00Z";

impl InMemoryDocuments {
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let version = crate::digest::sha256_hex(bytes)[..16].to_owned();
        lock(&self.docs).insert(key.to_owned(), Stored { bytes: bytes.to_vec(), version });
    }

    pub fn remove(&self, key: &str) {
        lock(&self.docs).remove(key);
    }

    pub fn keys(&self) -> Vec<String> {
        lock(&self.docs).keys().cloned().collect()
    }

    pub fn version_of(&self, key: &str) -> Option<String> {
        lock(&self.docs).get(key).map(|d| d.version.clone())
    }

    /// Takes `PUT /documents/{name}` as the local target does.
    pub fn allow_direct_uploads(&self) {
        self.direct_uploads.store(true, Ordering::SeqCst);
    }

    /// Makes every library call fail, as an unreachable bucket would.
    pub fn fail(&self, fail: bool) {
        self.failing.store(fail, Ordering::SeqCst);
    }

    /// The upload targets issued: key, size, content type.
    pub fn uploads_issued(&self) -> Vec<(String, u64, String)> {
        lock(&self.uploads_issued).clone()
    }

    fn check(&self) -> Result<(), LibraryError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(LibraryError::Failed("the fake bucket is failing".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl DocumentSource for InMemoryDocuments {
    async fn get(&self, key: &str) -> Result<Option<Document>, RagError> {
        Ok(lock(&self.docs).get(key).map(|d| Document {
            key: key.to_owned(),
            bytes: d.bytes.clone(),
            version: d.version.clone(),
        }))
    }

    async fn exists(&self, key: &str) -> Result<bool, RagError> {
        Ok(lock(&self.docs).contains_key(key))
    }

    async fn version(&self, key: &str) -> Result<Option<String>, RagError> {
        Ok(self.version_of(key))
    }
}

#[async_trait]
impl DocumentLibrary for InMemoryDocuments {
    async fn list(&self) -> Result<Vec<StoredDocument>, LibraryError> {
        self.check()?;
        Ok(lock(&self.docs)
            .iter()
            .map(|(key, d)| StoredDocument {
                key: key.clone(),
                size: d.bytes.len() as u64,
                last_modified: LAST_MODIFIED.to_owned(),
                version: d.version.clone(),
            })
            .collect())
    }

    async fn upload_target(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
    ) -> Result<UploadTarget, LibraryError> {
        self.check()?;
        lock(&self.uploads_issued).push((key.to_owned(), size, content_type.to_owned()));
        Ok(UploadTarget {
            method: "PUT".to_owned(),
            url: format!("https://documents.invalid/{key}?signed"),
            headers: BTreeMap::from([("Content-Type".to_owned(), content_type.to_owned())]),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), LibraryError> {
        self.check()?;
        lock(&self.docs).remove(key).map(|_| ()).ok_or(LibraryError::NotFound)
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LibraryError> {
        self.check()?;
        if !self.direct_uploads.load(Ordering::SeqCst) {
            return Err(LibraryError::Unsupported("no direct uploads"));
        }
        InMemoryDocuments::put(self, key, bytes);
        Ok(())
    }
}

/// Status records in a map.
#[derive(Default)]
pub struct InMemoryStatuses {
    records: Mutex<HashMap<String, DocumentStatus>>,
}

impl InMemoryStatuses {
    pub fn get(&self, key: &str) -> Option<DocumentStatus> {
        lock(&self.records).get(key).cloned()
    }
}

#[async_trait]
impl DocumentStatuses for InMemoryStatuses {
    async fn record(&self, status: &DocumentStatus) -> Result<(), StatusError> {
        lock(&self.records).insert(status.key.clone(), status.clone());
        Ok(())
    }

    async fn forget(&self, key: &str) -> Result<(), StatusError> {
        lock(&self.records).remove(key);
        Ok(())
    }

    async fn all(&self) -> Result<Vec<DocumentStatus>, StatusError> {
        let mut all: Vec<DocumentStatus> = lock(&self.records).values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }
}
