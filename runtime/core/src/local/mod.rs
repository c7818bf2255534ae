//! Adapters for the local target and the end-to-end tests only; never deployed to AWS.

pub mod extractive;
pub mod hashing;
#[cfg(feature = "local-index")]
pub mod hybrid;
#[cfg(feature = "local-model")]
pub mod minilm;
#[cfg(feature = "local-index")]
pub mod sqlite_index;
pub mod words;
