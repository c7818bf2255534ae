//! `local/hashing`: a deterministic feature-hashing embedder, the local target's stand-in for
//! Titan. It needs no model and no network.
//!
//! A text becomes a bag of features: its lowercased words, adjacent word pairs, and the
//! character 3- and 4-grams of each word (so "programming" and "programmer" share features).
//! Each feature adds a signed weight at a position chosen by a fixed 64-bit FNV-1a hash; the
//! vector is then L2-normalised, so the inner product of two embeddings is their cosine.
//! It matches wording, not meaning: a development double, named as such wherever it is used.

use async_trait::async_trait;

use crate::ports::{Embedder, RagError};

pub const MODEL_NAME: &str = "local/hashing";

/// The retrieval score floor that suits this embedder. Word overlap, not meaning, drives its
/// scores: a question sharing the key words of a passage scores about 0.3-0.6 against it, while
/// unrelated text still shares common character n-grams and scores up to about 0.2.
pub const LOCAL_SCORE_FLOOR: f32 = 0.25;

const WORD_WEIGHT: f32 = 1.0;
const PAIR_WEIGHT: f32 = 0.5;
const GRAM_WEIGHT: f32 = 0.35;

#[derive(Debug, Clone, Copy)]
pub struct HashingEmbedder {
    dimensions: usize,
}

impl HashingEmbedder {
    pub fn new(dimensions: usize) -> Self {
        Self { dimensions: dimensions.max(8) }
    }

    /// The embedding of one text; all zeros when it has no word at all.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dimensions];
        let lower = text.to_lowercase();
        let words: Vec<&str> =
            lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        for w in &words {
            self.add(&mut v, &["w", w], WORD_WEIGHT);
            let padded: Vec<char> = format!("<{w}>").chars().collect();
            for n in [3, 4] {
                for gram in padded.windows(n) {
                    let gram: String = gram.iter().collect();
                    self.add(&mut v, &["g", &gram], GRAM_WEIGHT);
                }
            }
        }
        for pair in words.windows(2) {
            self.add(&mut v, &["p", pair[0], pair[1]], PAIR_WEIGHT);
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    fn add(&self, v: &mut [f32], parts: &[&str], weight: f32) {
        let h = fnv1a(parts);
        // The low bits pick the slot and the top bit the sign, so collisions cancel on average
        // instead of piling up.
        let slot = (h % self.dimensions as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[slot] += sign * weight;
    }
}

/// 64-bit FNV-1a over the parts, separated so ("ab","c") and ("a","bc") differ.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[async_trait]
impl Embedder for HashingEmbedder {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors_of_the_asked_size() {
        let e = HashingEmbedder::new(1024);
        let a = e.embed_one("Rust and Go at work");
        assert_eq!(a.len(), 1024);
        assert_eq!(a, e.embed_one("Rust and Go at work"));
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        assert_eq!(HashingEmbedder::new(256).embed_one("x y z").len(), 256);
    }

    #[test]
    fn fixed_vectors_do_not_drift_between_builds() {
        // The index persists embeddings: a changed hash would silently break every stored vector.
        assert_eq!(fnv1a(&["w", "rust"]), fnv1a(&["w", "rust"]));
        assert_eq!(fnv1a(&[""]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
    }

    #[test]
    fn related_wording_scores_higher_than_unrelated() {
        let e = HashingEmbedder::new(1024);
        let q = e.embed_one("What programming languages do I know?");
        let cv = e.embed_one("Skills: programming languages Rust, Go and Python; ten years of backend work.");
        let garden = e.embed_one("I grow tomatoes and basil on the balcony every summer.");
        assert!(cos(&q, &cv) > cos(&q, &garden) + 0.1, "{} vs {}", cos(&q, &cv), cos(&q, &garden));
    }

    #[test]
    fn case_and_word_forms_are_close() {
        let e = HashingEmbedder::new(1024);
        assert!((cos(&e.embed_one("RUST"), &e.embed_one("rust")) - 1.0).abs() < 1e-5);
        let a = e.embed_one("programming");
        assert!(cos(&a, &e.embed_one("programmer")) > cos(&a, &e.embed_one("gardening")));
    }

    #[test]
    fn text_without_words_embeds_to_zeros() {
        let v = HashingEmbedder::new(64).embed_one("  ,.;  ");
        assert!(v.iter().all(|x| *x == 0.0));
    }
}
