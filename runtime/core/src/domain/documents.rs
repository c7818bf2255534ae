//! The documents API's rules: which names a document may have, which content types an upload
//! may declare, and how a listing and the status records combine. Pure: no I/O.

use percent_encoding::percent_decode_str;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{DocumentKind, ExtractLimits};
use crate::ports::{DocumentStatus, IndexState, StoredDocument};

/// Where ingestion reads documents from; the bucket notifies only for this prefix.
pub const PREFIX: &str = "docs/";

/// The extensions ingestion reads, as the app checks them before sending.
pub const EXTENSIONS: [&str; 5] = [".pdf", ".md", ".markdown", ".txt", ".text"];

/// S3 allows keys of 1,024 bytes; the prefix takes five of them.
pub const MAX_NAME_BYTES: usize = 1024 - PREFIX.len();

fn bad_name(why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{why}: a document name is a path under docs/ such as notes.md or trips/porto.pdf, \
         ending in .pdf, .md, .markdown, .txt or .text"
    ))
}

/// The key `docs/<name>` for a name as a client gives it (not URL-encoded), or why not. A name
/// may hold folders (`trips/porto.md`, as `opsctl docs put` stores a folder), but never a
/// segment that is empty or starts with a dot (so no `..`), a leading `/`, a backslash or a
/// control character: the key must be the one the caller sees.
pub fn key_of(name: &str) -> Result<String, ApiError> {
    if name.is_empty() {
        return Err(bad_name("the name is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(bad_name("the name is longer than 1,019 bytes"));
    }
    if name.starts_with('/') {
        return Err(bad_name("the name starts with /"));
    }
    if name.contains("..") {
        return Err(bad_name("the name holds `..`"));
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err(bad_name("the name holds a control character or a backslash"));
    }
    if name.split('/').any(|s| s.is_empty() || s.starts_with('.') || s.trim() != s) {
        return Err(bad_name("a part of the name is empty, starts with a dot or with a space"));
    }
    if DocumentKind::of(name).is_none() {
        return Err(bad_name("the type is not one ingestion reads"));
    }
    Ok(format!("{PREFIX}{name}"))
}

/// The key for a name as it arrives in a path, URL-encoded (`trips%2Fporto.md`).
pub fn key_of_path_segment(raw: &str) -> Result<String, ApiError> {
    let name = percent_decode_str(raw).decode_utf8().map_err(|_| bad_name("the name is not UTF-8"))?;
    key_of(&name)
}

/// The content type an upload of `key` is stored with, whatever the client declared.
pub fn content_type(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Pdf => "application/pdf",
        DocumentKind::Markdown => "text/markdown; charset=utf-8",
        DocumentKind::Text => "text/plain; charset=utf-8",
    }
}

/// Whether `declared` (a browser's `File.type`) fits a document of `kind`. Browsers often know
/// no type for Markdown and send an empty one, or a generic one.
pub fn declared_type_fits(kind: DocumentKind, declared: &str) -> bool {
    let essence = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let accepted: &[&str] = match kind {
        DocumentKind::Pdf => &["application/pdf", "application/x-pdf"],
        DocumentKind::Markdown => &["text/markdown", "text/x-markdown", "text/plain"],
        DocumentKind::Text => &["text/plain"],
    };
    essence.is_empty() || essence == "application/octet-stream" || accepted.contains(&essence.as_str())
}

/// 413 for an upload over ingestion's limit.
pub fn check_size(size: u64) -> Result<(), ApiError> {
    let limit = ExtractLimits::default().max_bytes;
    if size > limit {
        return Err(ApiError::payload_too_large(format!(
            "the document is {size} bytes; ingestion reads documents of up to {limit} bytes"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentView {
    /// The part of the key after `docs/`.
    pub name: String,
    pub size: u64,
    pub last_modified: String,
    /// `pending`, `indexed` or `failed`.
    pub status: &'static str,
    pub chunks: Option<u32>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub max_bytes: u64,
    pub extensions: [&'static str; 5],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentList {
    pub documents: Vec<DocumentView>,
    pub limits: Limits,
}

/// Each document with its status: a record for the very version listed says indexed or
/// failed; no record, or one for another version (an upload ingestion has not reached yet),
/// is pending.
pub fn combine(documents: Vec<StoredDocument>, statuses: &[DocumentStatus]) -> DocumentList {
    let documents = documents
        .into_iter()
        .map(|d| {
            let status = statuses.iter().find(|s| s.key == d.key && s.version == d.version);
            let (status, chunks, reason) = match status.map(|s| &s.state) {
                Some(IndexState::Indexed { chunks }) => ("indexed", Some(*chunks), None),
                Some(IndexState::Failed { reason }) => ("failed", None, Some(reason.clone())),
                None => ("pending", None, None),
            };
            DocumentView {
                name: d.key.strip_prefix(PREFIX).unwrap_or(&d.key).to_owned(),
                size: d.size,
                last_modified: d.last_modified,
                status,
                chunks,
                reason,
            }
        })
        .collect();
    DocumentList {
        documents,
        limits: Limits { max_bytes: ExtractLimits::default().max_bytes, extensions: EXTENSIONS },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_keys_under_docs_and_bad_ones_are_refused() {
        assert_eq!(key_of("notes.md").unwrap(), "docs/notes.md");
        assert_eq!(key_of("trips/Porto 2026.PDF").unwrap(), "docs/trips/Porto 2026.PDF");
        assert_eq!(key_of_path_segment("trips%2Fporto.md").unwrap(), "docs/trips/porto.md");
        assert_eq!(key_of_path_segment("caf%C3%A9.txt").unwrap(), "docs/café.txt");
        for bad in [
            "",
            "/etc/passwd.txt",
            "../secret.md",
            "a/../b.md",
            "a..md",
            "a//b.md",
            ".hidden.md",
            "a\\b.md",
            "tab\there.md",
            "image.png",
            "noextension",
            " lead.md",
        ] {
            let err = key_of(bad).unwrap_err();
            assert_eq!(err.status, 400, "{bad:?}");
        }
        assert_eq!(key_of(&format!("{}.md", "a".repeat(MAX_NAME_BYTES))).unwrap_err().status, 400);
        assert_eq!(key_of_path_segment("%FF.md").unwrap_err().status, 400);
        assert_eq!(key_of_path_segment("..%2Fx.md").unwrap_err().status, 400);
    }

    #[test]
    fn declared_types_must_fit_the_extension() {
        assert!(declared_type_fits(DocumentKind::Pdf, "application/pdf"));
        assert!(declared_type_fits(DocumentKind::Markdown, ""));
        assert!(declared_type_fits(DocumentKind::Markdown, "text/markdown; charset=utf-8"));
        assert!(!declared_type_fits(DocumentKind::Pdf, "text/html"));
        assert!(!declared_type_fits(DocumentKind::Text, "image/svg+xml"));
    }

    #[test]
    fn only_a_record_of_the_listed_version_gives_a_status() {
        let doc = |key: &str, version: &str| StoredDocument {
            key: key.into(),
            size: 3,
            last_modified: "2026-12-04T00:00:00Z".into(),
            version: version.into(),
        };
        let status = |key: &str, version: &str, state| DocumentStatus {
            key: key.into(),
            version: version.into(),
            sha256: "s".into(),
            state,
            recorded_at: "t".into(),
        };
        let list = combine(
            vec![doc("docs/a.md", "v1"), doc("docs/b.pdf", "v2"), doc("docs/c.txt", "v3")],
            &[
                status("docs/a.md", "v1", IndexState::Indexed { chunks: 4 }),
                status("docs/b.pdf", "v2", IndexState::Failed { reason: "encrypted".into() }),
                status("docs/c.txt", "old", IndexState::Indexed { chunks: 1 }),
            ],
        );
        let shown: Vec<_> = list
            .documents
            .iter()
            .map(|d| (d.name.as_str(), d.status, d.chunks, d.reason.as_deref()))
            .collect();
        assert_eq!(
            shown,
            [
                ("a.md", "indexed", Some(4), None),
                ("b.pdf", "failed", None, Some("encrypted")),
                ("c.txt", "pending", None, None)
            ]
        );
        assert_eq!(list.limits.max_bytes, ExtractLimits::default().max_bytes);
    }
}
