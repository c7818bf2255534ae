//! The chatbot's domain, ports and adapters.
//!
//! Handlers in [`handlers`] depend only on the traits in [`ports`]; the AWS adapters live in
//! [`aws`], and the in-memory doubles used by tests and benchmarks live in `fakes`, built only
//! for tests and under the `test-util` feature so that no Lambda links a test double.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod aws;
pub mod bounded;
pub mod config;
pub mod crypto;
pub mod digest;
pub mod domain;
pub mod extract_worker;
#[cfg(any(test, feature = "test-util"))]
pub mod fakes;
pub mod handlers;
pub mod local;
pub mod ports;
pub mod session;
pub mod sign_in_codes;
pub mod telemetry;
pub mod web;

pub use domain::error::{ApiError, ErrorCode};
