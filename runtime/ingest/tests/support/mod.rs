//! Shared by this crate's test binaries: the ingest executable as the extraction worker, and the
//! PDFs it is given.

#![allow(dead_code)]

#[allow(unused_imports)]
pub use test_support::pdf;

use chatbot_core::extract_worker::IsolatedExtraction;

/// The compression bomb of these tests: 2 KB that inflate, stream by stream under the
/// in-process 16 MiB limit, to 8 x 14 MiB of integers, which lopdf would hold as gigabytes of
/// objects.
pub fn bomb() -> Vec<u8> {
    pdf::compression_bomb_pdf(8, 7 << 20)
}

/// Documents read by the ingest Lambda's own executable in worker mode, with its limits.
pub fn lambda_worker() -> IsolatedExtraction {
    IsolatedExtraction::new(env!("CARGO_BIN_EXE_ingest"))
}
