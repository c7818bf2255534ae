//! What ingest_throughput measures besides throughput; its own module to keep the bench short.

pub mod isolation;
