//! One-time sign-in codes: what `opsctl open` puts in the link it opens (`/#signin=<code>`), so
//! the browser is signed in without the API token ever reaching it.
//!
//! A code is 32 random bytes as hex, good for [`LIFETIME`] and for one sign-in. Only its SHA-256
//! is stored: whoever reads the store (or the table on AWS) learns no code that still works.
//! The in-memory [`MemorySignInCodes`] serves the local target, where the gateway is one
//! process; on AWS every container must see the same codes, so they live in the conversations
//! table (`crate::aws::sign_in_codes`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::digest::sha256_hex;
use crate::ports::{SignInCodes, StoreError};

/// How long a sign-in link works: long enough for a browser to start, short enough that a link
/// left in a terminal's scrollback is dead.
pub const LIFETIME: Duration = Duration::from_secs(60);
const CODE_BYTES: usize = 32;

/// A fresh code: the text that goes in the link, and the hash that is stored.
pub struct NewCode {
    pub code: Zeroizing<String>,
    pub sha256: String,
}

/// A new random code, or `None` when the system's random source fails (nothing to hand out).
pub fn new_code() -> Option<NewCode> {
    let mut bytes = Zeroizing::new([0u8; CODE_BYTES]);
    OsRng.try_fill_bytes(bytes.as_mut()).ok()?;
    let code = Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let sha256 = sha256_hex(code.as_bytes());
    Some(NewCode { code, sha256 })
}

/// The stored hash of a presented code, or `None` when it cannot be one this API handed out
/// (so a malformed one costs no store call).
pub fn presented_hash(code: &str) -> Option<String> {
    let code = code.trim();
    let well_formed =
        code.len() == CODE_BYTES * 2 && code.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    well_formed.then(|| sha256_hex(code.as_bytes()))
}

/// The codes of one process: the local gateway's.
#[derive(Default)]
pub struct MemorySignInCodes {
    codes: Mutex<HashMap<String, u64>>,
}

impl MemorySignInCodes {
    /// How many codes are held, expired ones included until the next mint drops them.
    pub fn len(&self) -> usize {
        self.codes.lock().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SignInCodes for MemorySignInCodes {
    async fn mint(&self, code_sha256: &str, expires_at: u64) -> Result<(), StoreError> {
        let mut codes =
            self.codes.lock().map_err(|_| StoreError::Unavailable("a lock was poisoned".into()))?;
        // Links nobody used must not pile up in a long-running gateway.
        let now = crate::session::unix_now();
        codes.retain(|_, expiry| *expiry > now);
        if codes.contains_key(code_sha256) {
            return Err(StoreError::Conflict("this sign-in code is already stored".into()));
        }
        codes.insert(code_sha256.to_owned(), expires_at);
        Ok(())
    }

    async fn redeem(&self, code_sha256: &str, now: u64) -> Result<bool, StoreError> {
        let mut codes =
            self.codes.lock().map_err(|_| StoreError::Unavailable("a lock was poisoned".into()))?;
        // Removed whether or not it has expired: either way it never works again.
        Ok(codes.remove(code_sha256).is_some_and(|expiry| now < expiry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_64_hex_chars_stored_as_their_hash_and_never_repeat() {
        let a = new_code().unwrap();
        let b = new_code().unwrap();
        assert_eq!(a.code.len(), 64);
        assert_ne!(*a.code, *b.code);
        assert_eq!(presented_hash(&a.code).as_deref(), Some(a.sha256.as_str()));
        assert_ne!(a.sha256, *a.code);
        assert_eq!(presented_hash(&format!(" {} ", *a.code)).as_deref(), Some(a.sha256.as_str()));
        for bad in ["", "abc", &a.code[..63], &a.code.to_uppercase(), &format!("{}0", *a.code)] {
            assert_eq!(presented_hash(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_code_redeems_once_and_only_before_it_expires() {
        let store = MemorySignInCodes::default();
        let now = crate::session::unix_now();
        store.mint("h1", now + 60).await.unwrap();
        assert!(matches!(store.mint("h1", now + 60).await, Err(StoreError::Conflict(_))));
        assert!(store.redeem("h1", now + 59).await.unwrap());
        assert!(!store.redeem("h1", now + 59).await.unwrap(), "a second time");
        store.mint("h2", now + 60).await.unwrap();
        assert!(!store.redeem("h2", now + 60).await.unwrap(), "at its expiry");
        assert!(!store.redeem("h2", now).await.unwrap(), "an expired code is gone");
        assert!(!store.redeem("unknown", now).await.unwrap());
    }

    #[tokio::test]
    async fn expired_codes_are_dropped_when_another_is_minted() {
        let store = MemorySignInCodes::default();
        let now = crate::session::unix_now();
        store.mint("old", now.saturating_sub(1)).await.unwrap();
        store.mint("new", now + 60).await.unwrap();
        assert_eq!(store.len(), 1);
    }
}
