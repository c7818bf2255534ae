//! The single error shape of the chat API, so every client handles every failure one way.
//!
//! Every failure a caller can see is an [`ApiError`]. Its message is written for the caller and
//! never carries a stack trace, an AWS identifier or anyone else's text; the detail an operator
//! needs goes to the logs instead.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    Conflict,
    IdempotencyKeyReused,
    RateLimited,
    ModelUnavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::RateLimited,
        ErrorCode::ModelUnavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Conflict => "conflict",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ModelUnavailable => "model_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub status: u16,
    pub message: Cow<'static, str>,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(code: ErrorCode, status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        Self { code, status, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::BadRequest, 400, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            401,
            "missing or invalid bearer token: send `Authorization: Bearer <token>` (see `opsctl token show`)",
        )
    }

    /// A browser session that ended (expired, or the token was rotated): sign in again.
    pub fn session_ended() -> Self {
        Self::new(ErrorCode::Unauthorized, 401, "the session has ended: sign in again with the API token")
    }

    /// A one-time sign-in link that was used already, has expired, or was never handed out.
    pub fn sign_in_link_used() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            401,
            "this sign-in link was used already or has expired (a link works once, within 60 s): run `opsctl open` again",
        )
    }

    /// A state-changing request authenticated by the session cookie without the app's header.
    pub fn missing_csrf_header() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            403,
            "a request signed in by cookie must send the X-Chat-CSRF: 1 header (the web app does); API clients send Authorization: Bearer <token>",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            ErrorCode::NotFound,
            404,
            "no such route: use POST /chat, GET /health, GET /conversations, GET|PATCH|DELETE /conversations/{id} or, with RAG, GET /documents",
        )
    }

    /// 404 on the documents API when RAG is off: there is no library to list.
    pub fn rag_off() -> Self {
        Self::new(
            ErrorCode::NotFound,
            404,
            "documents need RAG, which is off: turn it on with `opsctl enable-rag` (or `opsctl local up --rag`)",
        )
    }

    pub fn no_such_document() -> Self {
        Self::new(ErrorCode::NotFound, 404, "no such document: `GET /documents` lists them")
    }

    pub fn no_such_conversation() -> Self {
        Self::new(ErrorCode::NotFound, 404, "no such conversation: `GET /conversations` lists them")
    }

    pub fn method_not_allowed(allowed: &'static str) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, 405, format!("method not allowed here; use {allowed}"))
    }

    pub fn payload_too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, 413, message)
    }

    /// 409: a request with the same `Idempotency-Key` is still being answered.
    pub fn conflict(retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::Conflict,
                409,
                "a request with this Idempotency-Key is still being answered; retry after the delay in Retry-After",
            )
        }
    }

    /// 422: the `Idempotency-Key` was first used with another request body.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            ErrorCode::IdempotencyKeyReused,
            422,
            "this Idempotency-Key was used for another request; send a new key for a new message",
        )
    }

    pub fn rate_limited(retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::RateLimited,
                429,
                "the model is rate limited; retry after the delay in Retry-After",
            )
        }
    }

    /// 503: the model is temporarily unable to answer; retrying later should work.
    pub fn model_unavailable(retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::ModelUnavailable,
                503,
                "the model is temporarily unavailable; retry after the delay in Retry-After",
            )
        }
    }

    /// 502: the model rejected the call for a reason the operator must fix (access, model id).
    pub fn model_failed(retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::ModelUnavailable,
                502,
                "the model could not answer; your message was saved, so you can retry later",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, 500, "internal error; the request id identifies it in the logs")
    }

    /// The error object, as a JSON error response and a stream's `error` event carry it.
    pub fn detail(&self, request_id: &str) -> ErrorDetail {
        ErrorDetail {
            code: self.code.as_str().to_owned(),
            message: self.message.clone().into_owned(),
            request_id: request_id.to_owned(),
        }
    }

    /// The JSON body: `{"error": {"code", "message", "request_id"}}`.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        let body = ErrorBody { error: self.detail(request_id) };
        // Serialising three strings cannot fail; fall back to a fixed body rather than panic.
        serde_json::to_vec(&body).unwrap_or_else(|_| FALLBACK_BODY.to_vec())
    }
}

/// The body sent when even the error body cannot be built.
pub const FALLBACK_BODY: &[u8] =
    br#"{"error":{"code":"internal","message":"internal error","request_id":""}}"#;

/// Every error response's body, as sent and as a client reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// One of [`ErrorCode::as_str`]; a string, so a client still reads a code added later.
    pub code: String,
    pub message: String,
    pub request_id: String,
}

impl ErrorDetail {
    /// The code, when it is one this version knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == self.code)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_round_trips_through_its_public_type() {
        let err = ApiError::rate_limited(7);
        let bytes = err.body("req-1");
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.error.code, "rate_limited");
        assert_eq!(body.error.error_code(), Some(ErrorCode::RateLimited));
        assert_eq!(body.error.message, err.message);
        assert_eq!(body.error.request_id, "req-1");
        assert_eq!(serde_json::to_vec(&body).unwrap(), bytes, "the wire is exactly the type");
        let wire: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"error": {"code": "rate_limited", "message": err.message, "request_id": "req-1"}})
        );
    }

    #[test]
    fn the_fallback_body_reads_as_an_internal_error() {
        let body: ErrorBody = serde_json::from_slice(FALLBACK_BODY).unwrap();
        assert_eq!(body.error.error_code(), Some(ErrorCode::Internal));
    }

    #[test]
    fn every_code_is_named_once() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn an_unknown_code_still_reads() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"ingest_failed","message":"m","request_id":"r"}}"#)
                .unwrap();
        assert_eq!(body.error.error_code(), None);
    }
}
