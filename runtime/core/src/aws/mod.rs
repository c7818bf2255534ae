//! The AWS adapters of the ports.

pub mod bedrock;
pub mod document_status;
pub mod dynamodb;
pub mod emf;
pub mod idempotency;
pub mod kms;
pub mod opensearch;
pub mod retriever;
pub mod s3;
pub mod s3_library;
pub mod s3vectors;
pub mod sign_in_codes;
pub mod ssm;
pub mod titan;
pub mod vector_store;

/// An SDK error rendered with its whole source chain, for logs (never for API callers).
pub(crate) fn describe<E: std::error::Error>(err: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(err).to_string()
}
