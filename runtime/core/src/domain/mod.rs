//! Pure domain types and rules: no I/O happens here.

pub mod api;
pub mod error;
pub mod message;
pub mod prompt;
