//! In-memory doubles of the ports, for tests and benchmarks.
//!
//! None of these is ever wired into a deployed Lambda. `LocalKeyring` stands in for KMS with a
//! random master key that lives only in memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{KeyInit, OsRng};
use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::crypto;
use crate::domain::prompt::RetrievedChunk;
use crate::ports::*;

mod conversations;
mod documents;
pub use conversations::{InMemoryConversationStore, InMemoryIdempotencyStore};
pub use documents::{InMemoryDocuments, InMemoryStatuses, LAST_MODIFIED};

/// A chat app over the in-memory doubles and `model`, accepting `token` (any caller without one).
pub async fn chat_app(
    model: Arc<dyn ChatModel>,
    token: Option<&str>,
) -> Result<crate::handlers::ChatApp, SecretError> {
    let auth = match token {
        None => crate::auth::Authenticator::Disabled,
        Some(t) => crate::auth::Authenticator::Token(
            crate::auth::TokenAuthenticator::load(Arc::new(StaticSecret::new(t))).await?,
        ),
    };
    Ok(crate::handlers::ChatApp {
        store: Arc::new(InMemoryConversationStore::new()),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: Arc::new(crypto::EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model,
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        auth,
        settings: crate::handlers::ChatSettings::default(),
        sign_in_codes: Arc::new(crate::sign_in_codes::MemorySignInCodes::default()),
        documents: None,
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------

/// A stand-in for KMS: wraps data keys with an in-memory master key, binding the same
/// encryption context as KMS would. Clones share the master key and the call counters.
#[derive(Clone)]
pub struct LocalKeyring {
    master: Arc<KeyBytes>,
    environment: String,
    generated: Arc<AtomicUsize>,
    unwrapped: Arc<AtomicUsize>,
}

impl LocalKeyring {
    pub fn new(environment: &str) -> Self {
        Self {
            master: Arc::new(random_key()),
            environment: environment.to_owned(),
            generated: Arc::default(),
            unwrapped: Arc::default(),
        }
    }

    /// The same master key under another encryption context.
    pub fn with_environment(&self, environment: &str) -> Self {
        Self { environment: environment.to_owned(), ..self.clone() }
    }

    pub fn generated(&self) -> usize {
        self.generated.load(Ordering::SeqCst)
    }

    pub fn unwrapped(&self) -> usize {
        self.unwrapped.load(Ordering::SeqCst)
    }

    /// Key-service calls of either kind.
    pub fn calls(&self) -> usize {
        self.generated() + self.unwrapped()
    }

    fn context(&self) -> Vec<u8> {
        format!("app=chatbot|env={}", self.environment).into_bytes()
    }
}

fn random_key() -> KeyBytes {
    let key = Aes256Gcm::generate_key(&mut OsRng);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key);
    out
}

#[async_trait]
impl DataKeyProvider for LocalKeyring {
    async fn generate(&self) -> Result<DataKey, CipherError> {
        self.generated.fetch_add(1, Ordering::SeqCst);
        let plaintext = random_key();
        let wrapped = crypto::encrypt(&self.master, &plaintext[..], &self.context())?;
        Ok(DataKey { plaintext, wrapped })
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<KeyBytes, CipherError> {
        self.unwrapped.fetch_add(1, Ordering::SeqCst);
        let refused = || CipherError::KeyService {
            operation: "unwrap",
            reason: "the wrapped key belongs to another key or encryption context".into(),
        };
        let plain = crypto::decrypt(&self.master, wrapped, &self.context()).map_err(|_| refused())?;
        let arr: [u8; 32] = plain.as_slice().try_into().map_err(|_| refused())?;
        Ok(Zeroizing::new(arr))
    }
}

// ---------------------------------------------------------------------------------------------

mod scripted_model;
pub use scripted_model::{ScriptedModel, ScriptedStream};

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
pub struct RecordingMetrics {
    turns: Mutex<Vec<TurnMetrics>>,
}

impl RecordingMetrics {
    pub fn turns(&self) -> Vec<TurnMetrics> {
        lock(&self.turns).clone()
    }
}

#[async_trait]
impl MetricsSink for RecordingMetrics {
    async fn record_turn(&self, metrics: &TurnMetrics) {
        lock(&self.turns).push(*metrics);
    }
}

// ---------------------------------------------------------------------------------------------

/// A secret whose value tests can rotate, counting reads.
pub struct StaticSecret {
    value: Mutex<String>,
    fetches: AtomicUsize,
    fail: AtomicBool,
}

impl StaticSecret {
    pub fn new(value: &str) -> Self {
        Self {
            value: Mutex::new(value.to_owned()),
            fetches: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        }
    }

    pub fn set(&self, value: &str) {
        *lock(&self.value) = value.to_owned();
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn fail_next_fetches(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }
}

#[async_trait]
impl SecretSource for StaticSecret {
    async fn fetch(&self) -> Result<Zeroizing<String>, SecretError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(SecretError::Unavailable { name: "static".into(), reason: "set to fail".into() });
        }
        Ok(Zeroizing::new(lock(&self.value).clone()))
    }
}

// ---------------------------------------------------------------------------------------------

/// A retriever that returns fixed passages, or fails when told to.
#[derive(Default)]
pub struct StaticRetriever {
    chunks: Mutex<Vec<RetrievedChunk>>,
    fail: AtomicBool,
    queries: Mutex<Vec<String>>,
}

impl StaticRetriever {
    pub fn new(chunks: Vec<RetrievedChunk>) -> Self {
        Self { chunks: Mutex::new(chunks), ..Self::default() }
    }

    pub fn fail(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    pub fn queries(&self) -> Vec<String> {
        lock(&self.queries).clone()
    }
}

#[async_trait]
impl Retriever for StaticRetriever {
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        lock(&self.queries).push(query.to_owned());
        if self.fail.load(Ordering::SeqCst) {
            return Err(RagError::Failed("static retriever set to fail".into()));
        }
        Ok(lock(&self.chunks).iter().take(k).cloned().collect())
    }
}

/// An embedder for tests: each text becomes a unit vector whose components count the text's
/// bytes by residue, so equal texts embed equally and similar texts land close. Not the local
/// target's embedder, and no stand-in for a real model's semantics.
pub struct ByteCountEmbedder {
    dimensions: usize,
}

impl ByteCountEmbedder {
    pub fn new(dimensions: usize) -> Self {
        Self { dimensions: dimensions.max(1) }
    }
}

#[async_trait]
impl Embedder for ByteCountEmbedder {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dimensions];
                for b in t.to_lowercase().bytes() {
                    v[usize::from(b) % self.dimensions] += 1.0;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                v
            })
            .collect())
    }
}

/// A vector index over a `Vec`, scored by inner product. Like the remote indexes it writes a
/// document's new chunks before it deletes the stale ones, and it can be told to fail part-way.
#[derive(Default)]
pub struct InMemoryVectorIndex {
    chunks: Mutex<Vec<IndexedChunk>>,
    /// Fail the next replace after writing this many of its chunks.
    fail_after: Mutex<Option<usize>>,
}

impl InMemoryVectorIndex {
    /// The next `replace_document` writes `written` chunks, then fails as a lost connection would.
    pub fn fail_next_replace_after(&self, written: usize) {
        *lock(&self.fail_after) = Some(written);
    }

    /// Every stored chunk of `source`, in storage order.
    pub fn chunks_of(&self, source: &str) -> Vec<IndexedChunk> {
        lock(&self.chunks).iter().filter(|c| c.source == source).cloned().collect()
    }
}

/// What `chunks` (all of one source) amount to, by the rule `IndexedVersion` states.
pub fn version_of<'a>(chunks: impl IntoIterator<Item = &'a IndexedChunk>) -> IndexedVersion {
    let mut chunks = chunks.into_iter();
    let Some(first) = chunks.next() else { return IndexedVersion::Absent };
    let mut count = 1;
    for c in chunks {
        if c.sha256 != first.sha256 || c.ingested_at != first.ingested_at {
            return IndexedVersion::Mixed;
        }
        count += 1;
    }
    IndexedVersion::Whole { sha256: first.sha256.clone(), chunks: count }
}

#[async_trait]
impl VectorIndex for InMemoryVectorIndex {
    async fn check(&self) -> Result<(), RagError> {
        Ok(())
    }

    async fn indexed_version(&self, source: &str) -> Result<IndexedVersion, RagError> {
        Ok(version_of(&self.chunks_of(source)))
    }

    async fn replace_document(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError> {
        let fail_after = lock(&self.fail_after).take();
        let mut all = lock(&self.chunks);
        if let Some(written) = fail_after {
            all.extend_from_slice(&chunks[..written.min(chunks.len())]);
            return Err(RagError::Failed("the index connection was lost mid-write".into()));
        }
        let stale = all.len();
        all.extend_from_slice(chunks);
        let mut position = 0;
        all.retain(|c| {
            position += 1;
            position > stale || c.source != source
        });
        Ok(())
    }

    async fn delete_document(&self, source: &str) -> Result<(), RagError> {
        lock(&self.chunks).retain(|c| c.source != source);
        Ok(())
    }

    async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        let all = lock(&self.chunks);
        let mut hits: Vec<RetrievedChunk> = all
            .iter()
            .map(|c| RetrievedChunk {
                source: c.source.clone(),
                chunk: c.chunk,
                score: c.vector.iter().zip(vector).map(|(a, b)| a * b).sum(),
                text: c.text.clone(),
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rag_fakes_round_trip_a_document() {
        let embedder = ByteCountEmbedder::new(16);
        let texts = vec!["Rust and Go".to_owned(), "gardening tips".to_owned()];
        let vectors = embedder.embed(&texts).await.unwrap();
        assert!(
            vectors
                .iter()
                .all(|v| v.len() == 16 && (v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5)
        );

        let index = InMemoryVectorIndex::default();
        let chunks: Vec<IndexedChunk> = texts
            .iter()
            .zip(&vectors)
            .enumerate()
            .map(|(i, (t, v))| IndexedChunk {
                source: "docs/a.md".into(),
                chunk: u32::try_from(i).unwrap(),
                title: "a".into(),
                sha256: "x".into(),
                text: t.clone(),
                vector: v.clone(),
                ingested_at: "2026-11-25T00:00:00Z".into(),
            })
            .collect();
        index.replace_document("docs/a.md", &chunks).await.unwrap();
        let query = embedder.embed(&["rust and go".to_owned()]).await.unwrap().remove(0);
        let hits = index.search(&query, 1).await.unwrap();
        assert_eq!(hits[0].text, "Rust and Go");
        index.replace_document("docs/a.md", &chunks[1..]).await.unwrap();
        assert_eq!(index.search(&query, 5).await.unwrap().len(), 1, "replace drops old chunks");
        index.delete_document("docs/a.md").await.unwrap();
        assert!(index.search(&query, 5).await.unwrap().is_empty());

        let docs = InMemoryDocuments::default();
        docs.put("docs/a.md", b"hi");
        assert_eq!(docs.get("docs/a.md").await.unwrap().unwrap().bytes, b"hi");
        assert_eq!(docs.get("docs/b.md").await.unwrap(), None);
        assert!(docs.exists("docs/a.md").await.unwrap() && !docs.exists("docs/b.md").await.unwrap());
    }
}
