//! The fuzz targets' invariants, from the main workspace's `fuzz-checks` crate, where CI replays
//! the seeds and every crash found on stable (`cargo test -p fuzz-checks`).

pub use fuzz_checks::{chat_request, envelope_decrypt, extract_chunk};
