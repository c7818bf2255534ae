//! Pure domain types and rules: no I/O happens here.

pub mod api;
pub mod chunking;
pub mod conversations;
pub mod document_event;
pub mod documents;
pub mod error;
pub mod extract;
pub mod markdown;
pub mod message;
pub mod prompt;
pub mod sse;
