//! What the workspace's test binaries and benches share. A crate of its own so that each of them
//! depends on it like on any other crate, instead of including another crate's files by path.

pub mod isolate;
#[cfg(feature = "aws")]
pub mod moto;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod private_files;
pub mod proc_status;
pub mod snapshots;
#[cfg(feature = "aws")]
pub mod tables;
