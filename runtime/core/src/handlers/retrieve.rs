//! Retrieval: embed the query, take the nearest chunks, drop the weak ones so that an unrelated
//! document never reaches the prompt.
//!
//! The retrieval Lambda runs [`retrieve`]; the local target calls it in-process through
//! [`DirectRetriever`], so both answer the chat handler with the same hits.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::api::{RetrieveRequest, RetrieveResponse};
use crate::domain::prompt::RetrievedChunk;
use crate::ports::{Embedder, RagError, Retriever, VectorIndex};

pub const MAX_K: usize = 20;
/// Hits under this cosine similarity are dropped: with normalised Titan v2 embeddings, unrelated
/// passages score about 0.0-0.2 and passages on the question's topic well above 0.3.
pub const DEFAULT_SCORE_FLOOR: f32 = 0.3;
/// Longer queries are cut: Titan v2 takes 8k tokens, and a question never needs that many.
pub const MAX_QUERY_CHARS: usize = 8_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrieveSettings {
    pub score_floor: f32,
}

impl Default for RetrieveSettings {
    fn default() -> Self {
        Self { score_floor: DEFAULT_SCORE_FLOOR }
    }
}

pub struct RetrieveApp {
    pub embedder: Arc<dyn Embedder>,
    pub index: Arc<dyn VectorIndex>,
    pub settings: RetrieveSettings,
}

/// The hits for `request`, best first, none under the score floor.
pub async fn retrieve(app: &RetrieveApp, request: &RetrieveRequest) -> Result<RetrieveResponse, RagError> {
    let started = std::time::Instant::now();
    let query = request.query.trim();
    if query.is_empty() {
        return Err(RagError::Rejected("the query is empty".into()));
    }
    let k = request.k.clamp(1, MAX_K);
    let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
    let mut vectors = app.embedder.embed(std::slice::from_ref(&query)).await?;
    let vector = vectors
        .pop()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| RagError::Failed("no query embedding".into()))?;
    let mut chunks = app.index.hybrid_search(&query, &vector, k).await?;
    chunks.retain(|c| c.score >= app.settings.score_floor);
    chunks.truncate(k);
    // Never the query: it is the user's message.
    tracing::info!(
        k,
        hits = chunks.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "retrieval done"
    );
    Ok(RetrieveResponse { chunks })
}

/// The [`Retriever`] of the local target and the tests: the retrieval handler, called in-process.
pub struct DirectRetriever {
    app: RetrieveApp,
}

impl DirectRetriever {
    pub fn new(app: RetrieveApp) -> Self {
        Self { app }
    }
}

#[async_trait]
impl Retriever for DirectRetriever {
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        retrieve(&self.app, &RetrieveRequest { query: query.to_owned(), k }).await.map(|r| r.chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::InMemoryVectorIndex;
    use crate::local::hashing::HashingEmbedder;
    use crate::ports::IndexedChunk;

    async fn app(floor: f32) -> RetrieveApp {
        let embedder = HashingEmbedder::new(256);
        let index = InMemoryVectorIndex::default();
        let texts = ["I program in Rust and Go.", "Tomatoes need sun.", "Rust ownership and borrowing."];
        let chunks: Vec<IndexedChunk> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| IndexedChunk {
                source: format!("docs/{i}.md"),
                chunk: 0,
                title: String::new(),
                sha256: String::new(),
                text: (*t).to_owned(),
                vector: embedder.embed_one(t),
                ingested_at: String::new(),
            })
            .collect();
        for c in &chunks {
            index.replace_document(&c.source, std::slice::from_ref(c)).await.unwrap();
        }
        RetrieveApp {
            embedder: Arc::new(embedder),
            index: Arc::new(index),
            settings: RetrieveSettings { score_floor: floor },
        }
    }

    #[tokio::test]
    async fn hits_come_best_first_and_weak_ones_are_dropped() {
        let app = app(0.2).await;
        let got = retrieve(&app, &RetrieveRequest { query: "Rust programming".into(), k: 5 }).await.unwrap();
        assert!(!got.chunks.is_empty());
        assert!(got.chunks.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(got.chunks.iter().all(|c| c.score >= 0.2 && c.source != "docs/1.md"), "{got:?}");
    }

    #[tokio::test]
    async fn k_is_bounded_and_empty_queries_are_refused() {
        let app = app(-1.0).await;
        let got = retrieve(&app, &RetrieveRequest { query: "rust".into(), k: 1 }).await.unwrap();
        assert_eq!(got.chunks.len(), 1);
        let got = retrieve(&app, &RetrieveRequest { query: "rust".into(), k: 0 }).await.unwrap();
        assert_eq!(got.chunks.len(), 1, "k = 0 is read as 1");
        let err = retrieve(&app, &RetrieveRequest { query: "  ".into(), k: 5 }).await.unwrap_err();
        assert!(matches!(err, RagError::Rejected(_)));
    }
}
