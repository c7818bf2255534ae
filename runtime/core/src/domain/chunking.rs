//! Splitting extracted text into chunks for embedding: at most [`MAX_CHUNK_TOKENS`] tokens each,
//! consecutive chunks overlapping by [`OVERLAP_TOKENS`], split at the largest semantic unit that
//! fits (Markdown sections and blocks for `.md`; paragraphs, sentences and words otherwise).
//!
//! Tokens are counted with the `cl100k_base` BPE. Titan's own tokenizer is not published; on
//! English prose the two differ by a few percent, and Titan v2 accepts 8,192 tokens, so the
//! 512-token bound is about retrieval precision, not about what the model accepts.

use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tiktoken_rs::CoreBPE;

use super::extract::DocumentKind;

pub const MAX_CHUNK_TOKENS: usize = 512;
pub const OVERLAP_TOKENS: usize = 64;

/// The tokenizer chunk sizes are measured with; built once per process (it parses ~100k ranks).
pub fn tokenizer() -> &'static CoreBPE {
    tiktoken_rs::cl100k_base_singleton()
}

/// The number of tokens in `text`, as the chunker counts them.
pub fn count_tokens(text: &str) -> usize {
    tokenizer().encode_ordinary(text).len()
}

/// How large chunks are and how much consecutive ones share, in the chunker's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSize {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self { max_tokens: MAX_CHUNK_TOKENS, overlap_tokens: OVERLAP_TOKENS }
    }
}

/// The chunks of `text`, in document order, trimmed, none empty, of the default size.
pub fn chunk_text(kind: DocumentKind, text: &str) -> Vec<String> {
    chunk_text_sized(kind, text, ChunkSize::default())
}

/// The chunks of `text` at most `size.max_tokens` long: for an embedder that reads fewer tokens
/// than Titan (the local target's MiniLM reads 256 of its own).
pub fn chunk_text_sized(kind: DocumentKind, text: &str, size: ChunkSize) -> Vec<String> {
    let max = size.max_tokens.max(1);
    let config = match ChunkConfig::new(max).with_sizer(tokenizer()).with_overlap(size.overlap_tokens) {
        Ok(config) => config,
        // Only an overlap not smaller than the capacity is refused: then no overlap.
        Err(_) => ChunkConfig::new(max).with_sizer(tokenizer()),
    };
    let chunks: Vec<&str> = match kind {
        DocumentKind::Markdown => MarkdownSplitter::new(config).chunks(text).collect(),
        DocumentKind::Pdf | DocumentKind::Text => TextSplitter::new(config).chunks(text).collect(),
    };
    chunks.into_iter().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_markdown() -> String {
        let mut md = String::from("# Jane Doe\n\nSoftware engineer.\n\n");
        for section in 0..6 {
            md.push_str(&format!("## Project {section}\n\n"));
            for para in 0..16 {
                md.push_str(&format!(
                    "Paragraph {para} of project {section} describes work in Rust, Go and Python on \
                     distributed systems, with measured results and the lessons that followed. \
                     It mentions tracing, benchmarks, incident reviews and careful rollouts.\n\n"
                ));
            }
            md.push_str("- a bullet about testing\n- a bullet about deployment\n\n");
        }
        md
    }

    #[test]
    fn long_markdown_chunks_fit_and_overlap() {
        let md = long_markdown();
        assert!(count_tokens(&md) > 4 * MAX_CHUNK_TOKENS, "the sample must need several chunks");
        let chunks = chunk_text(DocumentKind::Markdown, &md);
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for c in &chunks {
            assert!(count_tokens(c) <= MAX_CHUNK_TOKENS, "a chunk has {} tokens", count_tokens(c));
        }
        let overlapping = chunks
            .windows(2)
            .filter(|pair| {
                let head: String = pair[1].chars().take(40).collect();
                pair[0].contains(&head)
            })
            .count();
        // A section over the limit is split below the section level, and those pieces overlap;
        // whole sections are not padded with a neighbour, which keeps headings as boundaries.
        assert!(overlapping >= 3, "only {overlapping} consecutive chunks overlap");
        // Every paragraph survives somewhere.
        for section in 0..6 {
            let marker = format!("Paragraph 15 of project {section} ");
            assert!(chunks.iter().any(|c| c.contains(&marker)), "{marker} was lost");
        }
    }

    #[test]
    fn short_text_is_one_chunk_and_blank_text_none() {
        assert_eq!(chunk_text(DocumentKind::Text, "  Hello there.  "), vec!["Hello there.".to_owned()]);
        assert!(chunk_text(DocumentKind::Text, " \n\n ").is_empty());
    }

    #[test]
    fn markdown_splits_prefer_section_boundaries() {
        let md = long_markdown();
        let chunks = chunk_text(DocumentKind::Markdown, &md);
        let starting_at_heading = chunks.iter().filter(|c| c.starts_with('#')).count();
        assert!(starting_at_heading >= 2, "{chunks:#?}");
    }
}
