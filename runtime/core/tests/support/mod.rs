// Each test binary uses a different part of the support code.
#[allow(dead_code)]
pub mod chunks;
#[allow(dead_code)]
pub mod moto;
#[allow(dead_code)]
pub mod pdf;
#[allow(dead_code)]
pub mod rag_app;
#[allow(dead_code)]
pub mod tables;
