//! The local target's document library: the emulator's documents bucket, with the gateway in
//! place of the presigned upload and of the bucket's notification. An upload is a same-origin
//! `PUT documents/{name}` to the gateway (with the session cookie and the CSRF header, like any
//! change), which stores the bytes and runs the ingestion handler before answering, as
//! `opsctl docs put` has the gateway do; a delete runs it too, so the chunks go with the file.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatbot_core::aws::s3_library::{S3Library, put_object};
use chatbot_core::domain::document_event::DocumentEvent;
use chatbot_core::domain::documents::PREFIX;
use chatbot_core::handlers::ingest::{IngestApp, handle_events};
use chatbot_core::ports::{DocumentLibrary, LibraryError, StoredDocument, UploadTarget};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A name in one path segment: `/` is encoded too, so `trips/porto.md` is one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub struct LocalLibrary {
    bucket: S3Library,
    client: aws_sdk_s3::Client,
    ingest: Arc<IngestApp>,
}

impl LocalLibrary {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, ingest: Arc<IngestApp>) -> Self {
        Self { bucket: S3Library::new(client.clone(), bucket), client, ingest }
    }

    /// Runs ingestion on `event` as the bucket's notification would. A failure a retry could
    /// fix is the upload's failure here: nothing would retry it on this machine.
    async fn ingest(&self, event: DocumentEvent) -> Result<(), LibraryError> {
        for report in handle_events(&self.ingest, &[event]).await {
            match report.result {
                Err(e) if e.is_transient() => {
                    return Err(LibraryError::Failed(format!("ingesting {}: {e}", report.key)));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The same-origin path, relative to the app, that takes the upload of `key`.
pub fn upload_path(key: &str) -> String {
    let name = key.strip_prefix(PREFIX).unwrap_or(key);
    format!("documents/{}", utf8_percent_encode(name, SEGMENT))
}

#[async_trait]
impl DocumentLibrary for LocalLibrary {
    async fn list(&self) -> Result<Vec<StoredDocument>, LibraryError> {
        self.bucket.list().await
    }

    async fn upload_target(
        &self,
        key: &str,
        _size: u64,
        content_type: &str,
    ) -> Result<UploadTarget, LibraryError> {
        Ok(UploadTarget {
            method: "PUT".to_owned(),
            url: upload_path(key),
            headers: BTreeMap::from([("Content-Type".to_owned(), content_type.to_owned())]),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), LibraryError> {
        self.bucket.delete(key).await?;
        self.ingest(DocumentEvent::Removed { key: key.to_owned() }).await
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LibraryError> {
        put_object(&self.client, self.bucket.bucket(), key, bytes).await?;
        self.ingest(DocumentEvent::Upserted { key: key.to_owned() }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upload_path_is_one_segment_relative_to_the_app() {
        assert_eq!(upload_path("docs/notes.md"), "documents/notes.md");
        assert_eq!(upload_path("docs/trips/Porto 2026.md"), "documents/trips%2FPorto%202026.md");
    }
}
