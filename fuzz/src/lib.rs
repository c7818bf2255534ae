//! The fuzz targets' invariants. They live with chatbot-core's tests so that CI replays the seeds
//! and every crash found on stable (`cargo test -p chatbot-core --test fuzz_regressions`); this
//! crate only includes the same file.

#[path = "../../runtime/core/tests/support/fuzz_checks.rs"]
mod fuzz_checks;

pub use fuzz_checks::{chat_request, envelope_decrypt, extract_chunk};
