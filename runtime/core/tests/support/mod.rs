// Each test binary uses a different part of the support code.
#[allow(dead_code)]
pub mod chunks;
#[allow(dead_code)]
pub mod rag_app;

#[allow(unused_imports)]
pub use test_support::{moto, pdf, tables};
