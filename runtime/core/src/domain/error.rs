//! The single error shape of the chat API (DESIGN §4).
//!
//! Every failure a caller can see is an [`ApiError`]. Its message is written for the caller and
//! never carries a stack trace, an AWS identifier or anyone else's text; the detail an operator
//! needs goes to the logs instead.

use std::borrow::Cow;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
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
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
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

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, 404, "no such route: use POST /chat or GET /health")
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

    /// The JSON body: `{"error": {"code", "message", "request_id"}}`.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
            request_id: &'a str,
        }
        let body = Body { error: Inner { code: self.code.as_str(), message: &self.message, request_id } };
        // Serialising three strings cannot fail; fall back to a fixed body rather than panic.
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"internal error","request_id":""}}"#.to_vec()
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}
