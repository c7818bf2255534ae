//! The status record ingestion leaves for each document, which the documents API shows:
//! indexed with its chunk count, or failed with the reason, for the version it read. A
//! document whose current version has no record is pending: not reached yet, or failing in a
//! way a retry may fix.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{IngestApp, IngestError, Outcome};
use crate::ports::{DocumentStatus, IndexState};

/// What ingestion learnt of the document it read: its version and digest, and how many chunks
/// that content makes once it was chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub version: String,
    pub sha256: String,
    pub chunks: Option<usize>,
}

/// Records what `result` says of `key`, and returns it. A record that cannot be written turns
/// the result transient: the event is retried, and the retry finds the document unchanged, so
/// it only writes the record again.
pub(super) async fn record(
    app: &IngestApp,
    key: &str,
    result: Result<Outcome, IngestError>,
    seen: Option<Seen>,
) -> Result<Outcome, IngestError> {
    let Some(statuses) = &app.statuses else {
        return result;
    };
    let now = || OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    let written = match (&result, seen) {
        (Ok(Outcome::Indexed { .. } | Outcome::Unchanged), Some(seen)) => {
            let chunks = u32::try_from(seen.chunks.unwrap_or(0)).unwrap_or(u32::MAX);
            let status = DocumentStatus {
                key: key.to_owned(),
                version: seen.version,
                sha256: seen.sha256,
                state: IndexState::Indexed { chunks },
                recorded_at: now(),
            };
            statuses.record(&status).await
        }
        (Ok(Outcome::Removed), _) => statuses.forget(key).await,
        (Err(e), seen) if !e.is_transient() => {
            // Refused before it was read (its type, its size): the version is asked of S3.
            let (version, sha256) = match seen {
                Some(seen) => (Some(seen.version), seen.sha256),
                None => (app.documents.version(key).await.ok().flatten(), String::new()),
            };
            let Some(version) = version else {
                return result;
            };
            let state = IndexState::Failed { reason: e.to_string() };
            let status = DocumentStatus { key: key.to_owned(), version, sha256, state, recorded_at: now() };
            statuses.record(&status).await
        }
        _ => Ok(()),
    };
    match written {
        Ok(()) => result,
        Err(e) => {
            tracing::error!(key, error = %e, "could not record the document's status; the event will be retried");
            Err(IngestError::Transient(format!("recording the status of {key}: {e}")))
        }
    }
}
