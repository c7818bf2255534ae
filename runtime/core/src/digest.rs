//! Content hashes, as lower-case hex.

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`: what identifies a document version and an artifact's content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
