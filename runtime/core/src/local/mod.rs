//! Adapters for the local target and the end-to-end tests only; never deployed to AWS.

pub mod hashing;
