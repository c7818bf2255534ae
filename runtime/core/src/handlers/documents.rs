//! The documents API, when RAG is on: what the library holds and how far ingestion got with
//! each document, where to upload one, and deleting one.
//!
//! - `GET /documents`: every document under `docs/` with its size, last change and status.
//! - `POST /documents/uploads` with `{"name", "size", "content_type"}`: where to PUT the bytes
//!   (on AWS a presigned S3 URL; on the local target the gateway's `PUT /documents/{name}`).
//! - `DELETE /documents/{name}`: 204; ingestion then drops its chunks.
//! - `PUT /documents/{name}` with the bytes: the local target only (see [`DocumentLibrary::put`]).
//!
//! `{name}` is the part of the key after `docs/`, URL-encoded (`trips%2Fporto.md`). Every route
//! authenticates like the conversations API; with RAG off each answers 404 saying so.

use std::sync::Arc;

use http::{Method, Response};
use serde::Deserialize;

use super::{ApiRequest, ChatApp, authenticate, json_response, no_content};
use crate::domain::documents::{self, DocumentList};
use crate::domain::error::ApiError;
use crate::domain::extract::DocumentKind;
use crate::ports::{DocumentLibrary, DocumentStatuses, LibraryError, UploadTarget};

/// The documents half of the app: present exactly when RAG is on.
#[derive(Clone)]
pub struct Documents {
    pub library: Arc<dyn DocumentLibrary>,
    pub statuses: Arc<dyn DocumentStatuses>,
}

/// Which documents route a path named.
pub enum DocumentsRoute<'a> {
    List,
    Uploads,
    /// The name as it came in the path, still URL-encoded.
    One(&'a str),
}

pub async fn route(
    app: &ChatApp,
    req: &ApiRequest,
    which: DocumentsRoute<'_>,
) -> Result<Response<Vec<u8>>, ApiError> {
    let id = &req.request_id;
    authenticate(app, req).await?;
    let docs = app.documents.as_ref().ok_or_else(ApiError::rag_off)?;
    match (which, &req.method) {
        (DocumentsRoute::List, &Method::GET) => list(docs, id).await.map(|l| json_response(200, &l, id)),
        (DocumentsRoute::List, _) => Err(ApiError::method_not_allowed("GET /documents")),
        (DocumentsRoute::Uploads, &Method::POST) => {
            upload(docs, &req.body, id).await.map(|t| json_response(200, &t, id))
        }
        (DocumentsRoute::Uploads, _) => Err(ApiError::method_not_allowed("POST /documents/uploads")),
        (DocumentsRoute::One(raw), &Method::DELETE) => {
            delete(docs, &documents::key_of_path_segment(raw)?, id).await.map(|()| no_content(id))
        }
        (DocumentsRoute::One(raw), &Method::PUT) => {
            put(docs, &documents::key_of_path_segment(raw)?, &req.body, id).await.map(|()| no_content(id))
        }
        (DocumentsRoute::One(_), _) => Err(ApiError::method_not_allowed("DELETE /documents/{name}")),
    }
}

fn failed(request_id: &str, what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(request_id, error = %e, "{what} failed");
    ApiError::internal()
}

pub async fn list(docs: &Documents, request_id: &str) -> Result<DocumentList, ApiError> {
    let stored = docs.library.list().await.map_err(|e| failed(request_id, "listing the documents", e))?;
    let statuses =
        docs.statuses.all().await.map_err(|e| failed(request_id, "reading the documents' status", e))?;
    Ok(documents::combine(stored, &statuses))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadRequest {
    name: String,
    size: u64,
    #[serde(default)]
    content_type: String,
}

pub async fn upload(docs: &Documents, body: &[u8], request_id: &str) -> Result<UploadTarget, ApiError> {
    if body.len() > 4 * 1024 {
        return Err(ApiError::payload_too_large("an upload request is a name, a size and a type"));
    }
    let request: UploadRequest = serde_json::from_slice(body).map_err(|_| {
        ApiError::bad_request(
            r#"send JSON like {"name": "notes.md", "size": 1200, "content_type": "text/markdown"}"#,
        )
    })?;
    let key = documents::key_of(&request.name)?;
    documents::check_size(request.size)?;
    // `key_of` accepted the extension, so it has a kind.
    let kind = DocumentKind::of(&key).ok_or_else(|| ApiError::bad_request("unsupported type"))?;
    if !documents::declared_type_fits(kind, &request.content_type) {
        return Err(ApiError::bad_request(format!(
            "a {} document cannot be of type {:?}",
            key.rsplit('.').next().unwrap_or(""),
            request.content_type
        )));
    }
    let target = docs
        .library
        .upload_target(&key, request.size, documents::content_type(kind))
        .await
        .map_err(|e| failed(request_id, "making an upload URL", e))?;
    tracing::info!(request_id, key, size = request.size, "upload target issued");
    Ok(target)
}

pub async fn delete(docs: &Documents, key: &str, request_id: &str) -> Result<(), ApiError> {
    match docs.library.delete(key).await {
        Ok(()) => {
            tracing::info!(request_id, key, "document deleted");
            Ok(())
        }
        Err(LibraryError::NotFound) => Err(ApiError::no_such_document()),
        Err(e) => Err(failed(request_id, "deleting a document", e)),
    }
}

pub async fn put(docs: &Documents, key: &str, bytes: &[u8], request_id: &str) -> Result<(), ApiError> {
    documents::check_size(bytes.len() as u64)?;
    match docs.library.put(key, bytes).await {
        Ok(()) => {
            tracing::info!(request_id, key, size = bytes.len(), "document uploaded");
            Ok(())
        }
        Err(LibraryError::Unsupported(_)) => {
            Err(ApiError::method_not_allowed("POST /documents/uploads, then PUT to the URL it returns"))
        }
        Err(e) => Err(failed(request_id, "storing a document", e)),
    }
}
