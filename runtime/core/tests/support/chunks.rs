//! What an index should hold, and what it does hold, as sorted (source, chunk, text) triples.

use chatbot_core::domain::chunking::chunk_text;
use chatbot_core::domain::extract::{ExtractLimits, extract};
use chatbot_core::ports::VectorIndex;

pub type Row = (String, u32, String);

/// Every chunk in `index` (of `dimensions`), sorted.
pub async fn indexed(index: &dyn VectorIndex, dimensions: usize) -> Vec<Row> {
    let mut all: Vec<Row> = index
        .search(&vec![0.0; dimensions], 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.source, c.chunk, c.text))
        .collect();
    all.sort();
    all
}

/// The chunks ingestion makes of each `(key, bytes)` document, sorted.
pub fn expected(docs: &[(&str, &[u8])]) -> Vec<Row> {
    let mut all = Vec::new();
    for (key, bytes) in docs {
        let text = extract(key, bytes, &ExtractLimits::default()).unwrap();
        for (i, c) in chunk_text(text.kind, &text.text).into_iter().enumerate() {
            all.push(((*key).to_owned(), i as u32, c));
        }
    }
    all.sort();
    all
}
