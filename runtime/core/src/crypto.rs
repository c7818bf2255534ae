//! Envelope encryption of message content, so a copy of the table alone reveals nothing.
//!
//! A data key from the key service encrypts up to 1,000 messages or 5 minutes' worth, then is
//! replaced. Each message is AES-256-GCM with a random 96-bit nonce and AAD that names its item,
//! so a blob copied onto another item fails to open. Unwrapped keys are kept in a bounded LRU
//! keyed by the wrapped blob for 5 minutes, so a warm turn makes no key-service call at all and a
//! key does not outlive its use in memory by long.
//!
//! The blob's first byte is its version. Both versions share one layout; the version tells the
//! caller which AAD the blob was sealed with (see `domain::message`): 2 for every blob written
//! now, 1 for blobs written before the AAD covered the message id, model and token counts.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use lru::LruCache;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::ports::{Cipher, CipherError, DataKeyProvider, KeyBytes, Sealed};

/// The version byte of every blob written now.
pub const VERSION: u8 = 2;
/// Blobs written before AAD v2; still opened.
pub const LEGACY_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy)]
pub struct KeyCachePolicy {
    /// How long one data key encrypts new messages.
    pub max_age: Duration,
    pub max_messages: u32,
    pub unwrapped_capacity: NonZeroUsize,
    /// How long an unwrapped key stays cached after it was unwrapped (or generated).
    pub unwrapped_max_age: Duration,
}

impl Default for KeyCachePolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_messages: 1_000,
            unwrapped_capacity: NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN),
            unwrapped_max_age: Duration::from_secs(300),
        }
    }
}

struct CurrentKey {
    key: Arc<KeyBytes>,
    wrapped: Arc<[u8]>,
    created: Instant,
    uses: u32,
}

struct CachedKey {
    key: Arc<KeyBytes>,
    since: Instant,
}

struct CacheState {
    current: Option<CurrentKey>,
    unwrapped: LruCache<Vec<u8>, CachedKey>,
}

pub struct EnvelopeCipher<P> {
    provider: P,
    policy: KeyCachePolicy,
    state: Mutex<CacheState>,
    /// Data keys generated or unwrapped: each one is a billed KMS request.
    key_service_calls: std::sync::atomic::AtomicU64,
}

impl<P: DataKeyProvider> EnvelopeCipher<P> {
    pub fn new(provider: P) -> Self {
        Self::with_policy(provider, KeyCachePolicy::default())
    }

    pub fn with_policy(provider: P, policy: KeyCachePolicy) -> Self {
        let state = CacheState { current: None, unwrapped: LruCache::new(policy.unwrapped_capacity) };
        Self {
            provider,
            policy,
            state: Mutex::new(state),
            key_service_calls: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn provider(&self) -> &P {
        &self.provider
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state is only a cache: after a panic elsewhere it is still safe to use.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current data key, if it may still encrypt one more message.
    fn take_current(&self) -> Option<(Arc<KeyBytes>, Arc<[u8]>)> {
        let mut state = self.lock();
        let current = state.current.as_mut()?;
        if current.uses >= self.policy.max_messages || current.created.elapsed() >= self.policy.max_age {
            state.current = None;
            return None;
        }
        current.uses += 1;
        Some((current.key.clone(), current.wrapped.clone()))
    }

    async fn encryption_key(&self) -> Result<(Arc<KeyBytes>, Arc<[u8]>), CipherError> {
        if let Some(k) = self.take_current() {
            return Ok(k);
        }
        self.key_service_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fresh = self.provider.generate().await?;
        let key = Arc::new(fresh.plaintext);
        let wrapped: Arc<[u8]> = fresh.wrapped.into();
        let mut state = self.lock();
        state.unwrapped.put(wrapped.to_vec(), CachedKey { key: key.clone(), since: Instant::now() });
        state.current =
            Some(CurrentKey { key: key.clone(), wrapped: wrapped.clone(), created: Instant::now(), uses: 1 });
        Ok((key, wrapped))
    }

    /// A cached unwrapped key, unless it has been cached for too long (then it is dropped).
    fn cached_key(&self, wrapped: &[u8]) -> Option<Arc<KeyBytes>> {
        let mut state = self.lock();
        let cached = state.unwrapped.get(wrapped)?;
        if cached.since.elapsed() < self.policy.unwrapped_max_age {
            return Some(cached.key.clone());
        }
        state.unwrapped.pop(wrapped);
        None
    }

    async fn decryption_key(&self, wrapped: &[u8]) -> Result<Arc<KeyBytes>, CipherError> {
        if let Some(k) = self.cached_key(wrapped) {
            return Ok(k);
        }
        self.key_service_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = Arc::new(self.provider.unwrap(wrapped).await?);
        self.lock().unwrapped.put(wrapped.to_vec(), CachedKey { key: key.clone(), since: Instant::now() });
        Ok(key)
    }
}

#[async_trait]
impl<P: DataKeyProvider> Cipher for EnvelopeCipher<P> {
    async fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CipherError> {
        let (key, wrapped) = self.encryption_key().await?;
        let blob = encrypt(&key, plaintext, aad)?;
        Ok(Sealed { blob, wrapped_key: wrapped.to_vec() })
    }

    async fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        check_shape(&sealed.blob)?;
        let key = self.decryption_key(&sealed.wrapped_key).await?;
        decrypt(&key, &sealed.blob, aad)
    }

    fn key_service_calls(&self) -> u64 {
        self.key_service_calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `version byte | nonce | ciphertext+tag`.
pub fn encrypt(key: &KeyBytes, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key[..]));
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .map_err(|_| CipherError::Malformed("plaintext too long to encrypt"))?;
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    blob.push(VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    Ok(blob)
}

fn check_shape(blob: &[u8]) -> Result<(), CipherError> {
    match blob.first() {
        None => Err(CipherError::Malformed("empty blob")),
        Some(&(VERSION | LEGACY_VERSION)) if blob.len() >= 1 + NONCE_LEN + TAG_LEN => Ok(()),
        Some(&(VERSION | LEGACY_VERSION)) => Err(CipherError::Malformed("blob shorter than nonce and tag")),
        Some(_) => Err(CipherError::Malformed("unknown blob version")),
    }
}

pub fn decrypt(key: &KeyBytes, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    check_shape(blob)?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key[..]));
    let nonce = Nonce::from_slice(&blob[1..1 + NONCE_LEN]);
    cipher
        .decrypt(nonce, Payload { msg: &blob[1 + NONCE_LEN..], aad })
        .map(Zeroizing::new)
        .map_err(|_| CipherError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::LocalKeyring;

    fn cipher() -> EnvelopeCipher<LocalKeyring> {
        EnvelopeCipher::new(LocalKeyring::new("dev"))
    }

    #[tokio::test]
    async fn round_trips_and_hides_plaintext() {
        let c = cipher();
        let sealed = c.seal(b"my secret message", b"aad-1").await.unwrap();
        assert_eq!(sealed.blob[0], VERSION);
        assert_eq!(sealed.blob.len(), 1 + NONCE_LEN + 17 + TAG_LEN);
        assert!(!sealed.blob.windows(6).any(|w| w == b"secret"));
        assert_eq!(&c.open(&sealed, b"aad-1").await.unwrap()[..], b"my secret message");
    }

    #[tokio::test]
    async fn nonces_are_fresh_per_message() {
        let c = cipher();
        let a = c.seal(b"same", b"aad").await.unwrap();
        let b = c.seal(b"same", b"aad").await.unwrap();
        assert_eq!(a.wrapped_key, b.wrapped_key);
        assert_ne!(a.blob[1..13], b.blob[1..13]);
        assert_ne!(a.blob, b.blob);
    }

    #[tokio::test]
    async fn other_aad_or_tampering_fails_authentication() {
        let c = cipher();
        let sealed = c.seal(b"hello", b"v1|conv-a|ts|user").await.unwrap();
        assert!(matches!(c.open(&sealed, b"v1|conv-b|ts|user").await, Err(CipherError::Authentication)));
        let mut tampered = sealed.clone();
        let last = tampered.blob.len() - 1;
        tampered.blob[last] ^= 1;
        assert!(matches!(c.open(&tampered, b"v1|conv-a|ts|user").await, Err(CipherError::Authentication)));
    }

    #[tokio::test]
    async fn malformed_blobs_are_rejected_without_a_key_call() {
        let c = cipher();
        let sealed = c.seal(b"x", b"a").await.unwrap();
        let calls = c.provider().calls();
        for blob in [vec![], vec![1u8; 10], vec![9u8; 64]] {
            let bad = Sealed { blob, wrapped_key: sealed.wrapped_key.clone() };
            assert!(matches!(c.open(&bad, b"a").await, Err(CipherError::Malformed(_))));
        }
        assert_eq!(c.provider().calls(), calls);
    }

    #[tokio::test]
    async fn one_data_key_serves_many_messages_then_rotates_by_count() {
        let policy = KeyCachePolicy { max_messages: 3, ..KeyCachePolicy::default() };
        let c = EnvelopeCipher::with_policy(LocalKeyring::new("dev"), policy);
        let mut wrapped = Vec::new();
        for _ in 0..7 {
            wrapped.push(c.seal(b"m", b"a").await.unwrap().wrapped_key);
        }
        assert_eq!(c.provider().generated(), 3);
        assert_eq!(wrapped[0], wrapped[2]);
        assert_ne!(wrapped[2], wrapped[3]);
    }

    #[tokio::test(start_paused = true)]
    async fn data_key_rotates_after_five_minutes() {
        let c = cipher();
        c.seal(b"m", b"a").await.unwrap();
        tokio::time::advance(Duration::from_secs(299)).await;
        c.seal(b"m", b"a").await.unwrap();
        assert_eq!(c.provider().generated(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        c.seal(b"m", b"a").await.unwrap();
        assert_eq!(c.provider().generated(), 2);
    }

    #[tokio::test]
    async fn unwrapped_keys_are_cached_and_bounded() {
        let writer = cipher();
        let policy = KeyCachePolicy {
            max_messages: 1,
            unwrapped_capacity: NonZeroUsize::new(2).unwrap(),
            ..KeyCachePolicy::default()
        };
        // Three messages under three different data keys, read by a fresh (cold) reader.
        let w = EnvelopeCipher::with_policy(writer.provider().clone(), policy);
        let mut blobs = Vec::new();
        for m in [b"1", b"2", b"3"] {
            blobs.push(w.seal(m, b"a").await.unwrap());
        }
        let reader = EnvelopeCipher::with_policy(writer.provider().clone(), policy);
        let before = reader.provider().unwrapped();
        reader.open(&blobs[0], b"a").await.unwrap();
        reader.open(&blobs[0], b"a").await.unwrap();
        assert_eq!(reader.provider().unwrapped() - before, 1, "second open of the same key is cached");
        reader.open(&blobs[1], b"a").await.unwrap();
        reader.open(&blobs[2], b"a").await.unwrap(); // evicts blobs[0]'s key (capacity 2)
        reader.open(&blobs[0], b"a").await.unwrap();
        assert_eq!(reader.provider().unwrapped() - before, 4);
    }

    #[tokio::test]
    async fn a_reader_in_another_environment_cannot_unwrap() {
        let dev = cipher();
        let sealed = dev.seal(b"hello", b"a").await.unwrap();
        let prod = EnvelopeCipher::new(dev.provider().with_environment("prod"));
        let err = prod.open(&sealed, b"a").await.unwrap_err();
        assert!(matches!(err, CipherError::KeyService { operation: "unwrap", .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn unwrapped_keys_expire_five_minutes_after_unwrapping() {
        let writer = cipher();
        let sealed = writer.seal(b"m", b"a").await.unwrap();
        let reader = EnvelopeCipher::new(writer.provider().clone());
        let before = reader.provider().unwrapped();
        reader.open(&sealed, b"a").await.unwrap();
        tokio::time::advance(Duration::from_secs(299)).await;
        reader.open(&sealed, b"a").await.unwrap();
        assert_eq!(reader.provider().unwrapped() - before, 1, "still cached at 299 s");
        tokio::time::advance(Duration::from_secs(2)).await;
        reader.open(&sealed, b"a").await.unwrap();
        assert_eq!(reader.provider().unwrapped() - before, 2, "unwrapped again after 5 minutes");
        // The writer's own cache of the key it generated expires the same way.
        let calls = writer.provider().unwrapped();
        writer.open(&sealed, b"a").await.unwrap();
        assert_eq!(writer.provider().unwrapped() - calls, 1);
    }

    /// Sealed by the code before AAD v2 (version byte 1, AAD `v1|conversation|timestamp|role`),
    /// under the data key 00 01 .. 1f.
    const V1_BLOB: &str = "010707070707070707070707077818cf281b6ab9d4a4f875eff234d4dae018ad05ba7259a34377b249bd89da7293c27b88d8";
    const V1_AAD: &[u8] = b"v1|6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11|2026-01-01T00:00:00.000000Z#00000000-0000-0000-0000-000000000000|user";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn fixture_key() -> KeyBytes {
        let mut key = Zeroizing::new([0u8; 32]);
        key.iter_mut().enumerate().for_each(|(i, b)| *b = u8::try_from(i).unwrap());
        key
    }

    #[test]
    fn a_v1_blob_written_before_aad_v2_still_opens() {
        let blob = hex(V1_BLOB);
        assert_eq!(blob[0], LEGACY_VERSION);
        assert_eq!(&decrypt(&fixture_key(), &blob, V1_AAD).unwrap()[..], b"written before AAD v2");
    }

    #[test]
    fn versions_other_than_1_and_2_are_refused() {
        let blob = hex(V1_BLOB);
        for version in [0u8, 3, 9, 255] {
            let mut other = blob.clone();
            other[0] = version;
            let err = decrypt(&fixture_key(), &other, V1_AAD).unwrap_err();
            assert!(matches!(err, CipherError::Malformed("unknown blob version")), "{version}: {err}");
        }
        let mut relabelled = blob;
        relabelled[0] = VERSION;
        assert!(decrypt(&fixture_key(), &relabelled, V1_AAD).is_ok(), "the version byte is a label only");
    }

    /// What can be checked of zeroization: the types holding key material wipe themselves on
    /// drop (the AES key schedule through the `aes` crate's `zeroize` feature).
    #[test]
    fn key_material_types_zeroize_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroize_on_drop::<KeyBytes>();
        zeroize_on_drop::<Zeroizing<Vec<u8>>>();
        zeroize_on_drop::<aes_gcm::aes::Aes256>();
    }
}
