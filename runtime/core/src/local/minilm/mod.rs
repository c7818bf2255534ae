//! `sentence-transformers/all-MiniLM-L6-v2`, the local target's real embedder: a 6-layer BERT
//! run in process on the CPU with candle, 384 dimensions. As sentence-transformers configures
//! this model (its `1_Pooling/config.json` and `modules.json`): the token embeddings are averaged
//! over the attention mask, then L2-normalised, so an inner product is a cosine. Texts are cut at
//! 256 tokens, the model's `max_seq_length`.
//!
//! Behind the `local-model` feature: only opsctl and tests build candle, never the Lambdas.

pub mod files;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

pub use files::{MODEL_PATH_ENV, ModelError};

use crate::domain::chunking::ChunkSize;
use crate::ports::{Embedder, RagError};

pub const MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const DIMENSIONS: usize = 384;
/// The model's `max_seq_length` (sentence_bert_config.json), special tokens included.
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass when ingesting. Texts are sorted by length first, so a batch pads to
/// similar lengths; 16 keeps the attention tensors of 256-token chunks small (16 x 12 x 256 x 256
/// floats, 50 MB) while amortising the per-call overhead.
pub const BATCH: usize = 16;
/// Retrieval's score floor with this model: hits under this cosine are dropped. Calibrated on
/// the evaluation set in `eval/` (BENCHMARKS.md, "Local retrieval quality").
pub const SCORE_FLOOR: f32 = 0.20;
/// Chunks for this model, in the chunker's cl100k tokens: 200 of them make about 230 of this
/// model's WordPiece tokens, within the 256 it reads (a test checks the evaluation set's chunks).
pub const CHUNK_SIZE: ChunkSize = ChunkSize { max_tokens: 48, overlap_tokens: 0 };

#[derive(Clone)]
pub struct MiniLmEmbedder {
    model: Arc<Model>,
}

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

#[derive(serde::Deserialize)]
struct Pooling {
    word_embedding_dimension: usize,
    pooling_mode_mean_tokens: bool,
}

fn runtime(e: impl std::fmt::Display) -> ModelError {
    ModelError::Runtime(e.to_string())
}

impl MiniLmEmbedder {
    /// Finds the model (`OPSCTL_EMBEDDING_MODEL`, else the wheel in `<repo_root>/.venv`) and
    /// loads it.
    pub fn locate_and_load(repo_root: &Path) -> Result<Self, ModelError> {
        let configured = std::env::var_os(MODEL_PATH_ENV);
        Self::load(&files::locate(configured.as_deref(), repo_root)?)
    }

    /// Loads the model from a directory of its files, a `model.zip`, or the wheel's installed
    /// package directory; every file is checked against its sha256 first.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let files = files::read(path)?;
        let pooling: Pooling = serde_json::from_slice(&files.pooling).map_err(runtime)?;
        if !pooling.pooling_mode_mean_tokens || pooling.word_embedding_dimension != DIMENSIONS {
            return Err(runtime("the pooling configuration is not mean pooling over 384 dimensions"));
        }
        let config: Config = serde_json::from_slice(&files.config).map_err(runtime)?;
        let device = Device::Cpu;
        let vb =
            VarBuilder::from_buffered_safetensors(files.safetensors, DType::F32, &device).map_err(runtime)?;
        let bert = BertModel::load(vb, &config).map_err(runtime)?;
        let mut tokenizer = Tokenizer::from_bytes(&files.tokenizer).map_err(runtime)?;
        // tokenizer.json pads every text to 128 and truncates at 128; pooling here ignores
        // padding, and the model reads up to 256 tokens.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(runtime)?;
        Ok(Self { model: Arc::new(Model { bert, tokenizer, device }) })
    }

    /// How many of the model's tokens `text` makes, special tokens included, before truncation
    /// at [`MAX_TOKENS`]: what a chunker for this model would measure.
    pub fn token_count(&self, text: &str) -> Result<usize, ModelError> {
        let mut tokenizer = self.model.tokenizer.clone();
        tokenizer.with_truncation(None).map_err(runtime)?;
        Ok(tokenizer.encode_fast(text, true).map_err(runtime)?.len())
    }

    /// The embeddings of `texts`, in their order; blocking (call it off the async runtime).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut encoded = Vec::with_capacity(texts.len());
        for text in texts {
            let enc = self.model.tokenizer.encode_fast(text.as_str(), true).map_err(runtime)?;
            encoded.push(enc.get_ids().to_vec());
        }
        // Longest first, so each batch pads to nearly its own length.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| encoded[i].as_slice()).collect();
            for (&i, v) in batch.iter().zip(self.model.forward(&ids).map_err(runtime)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

impl Model {
    /// One forward pass over texts already tokenised: padded to the longest, mean-pooled over
    /// the real tokens, normalised.
    fn forward(&self, ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = ids.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let mut flat_ids = Vec::with_capacity(ids.len() * len);
        let mut mask = Vec::with_capacity(ids.len() * len);
        for t in ids {
            flat_ids.extend_from_slice(t);
            flat_ids.resize(flat_ids.len() + len - t.len(), 0);
            mask.extend(std::iter::repeat_n(1u32, t.len()));
            mask.extend(std::iter::repeat_n(0u32, len - t.len()));
        }
        let shape = (ids.len(), len);
        let input = Tensor::from_vec(flat_ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        // One segment: every token type is 0.
        let types = input.zeros_like()?;
        let hidden = self.bert.forward(&input, &types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        // F.normalize's eps, as sentence-transformers' Normalize module uses.
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
        mean.broadcast_div(&norm)?.to_vec2::<f32>()
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    fn dimensions(&self) -> usize {
        DIMENSIONS
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        let this = self.clone();
        let texts = texts.to_vec();
        // Compute-bound for milliseconds to seconds: off the async workers, so the gateway keeps
        // serving other requests meanwhile.
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| RagError::Failed(format!("the embedding task failed: {e}")))?
            .map_err(|e| RagError::Failed(e.to_string()))
    }
}
