//! Which vector store a RAG stack keeps its chunks in, read from the stack's `VectorStore`
//! parameter, and the size of what is in it. A leaf: it imports nothing of the crate, so the
//! command line, the stack, cost and status can all name the store.

use std::collections::BTreeMap;
use std::fmt::Display;

use clap::ValueEnum;
use serde::Serialize;

/// The root stack's parameter (`templates/main.yaml`).
pub const PARAMETER: &str = "VectorStore";

/// A vector's key (`{document}/{generation}/{chunk:05}`, about 45 bytes) and its filterable
/// metadata: what a query's data-processed fee counts besides the vector itself.
pub const KEY_AND_FILTERABLE_BYTES: u64 = 64;

/// `EmbeddingDimensions`' default in `templates/main.yaml`.
pub const DEFAULT_DIMENSIONS: u32 = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorStore {
    /// Amazon S3 Vectors: no minimum charge; billed by storage, writes and queries.
    #[value(name = "s3vectors")]
    S3Vectors,
    /// OpenSearch Serverless: hybrid search at scale, with a floor of OCUs billed by the hour.
    #[value(name = "opensearch")]
    OpenSearch,
}

impl VectorStore {
    /// A new RAG stack's store, as the template's default.
    pub const DEFAULT: VectorStore = VectorStore::S3Vectors;

    pub const fn as_str(self) -> &'static str {
        match self {
            VectorStore::S3Vectors => "s3vectors",
            VectorStore::OpenSearch => "opensearch",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            VectorStore::S3Vectors => "S3 Vectors",
            VectorStore::OpenSearch => "OpenSearch Serverless",
        }
    }

    pub fn parse(value: &str) -> Option<VectorStore> {
        [VectorStore::S3Vectors, VectorStore::OpenSearch].into_iter().find(|s| s.as_str() == value)
    }

    /// The store a stack with these parameters has configured, RAG on or off: its `VectorStore`
    /// parameter, or OpenSearch for a stack deployed before the parameter existed (OpenSearch
    /// was then the only store, and deploying such a stack without saying so must keep it).
    pub fn configured(parameters: &BTreeMap<String, String>) -> VectorStore {
        parameters.get(PARAMETER).and_then(|v| VectorStore::parse(v)).unwrap_or(VectorStore::OpenSearch)
    }

    /// The store in use: `None` when RAG is off.
    pub fn in_use(parameters: &BTreeMap<String, String>) -> Option<VectorStore> {
        let rag = parameters.get("EnableRAG").is_some_and(|v| v == "true");
        rag.then(|| VectorStore::configured(parameters))
    }
}

impl Display for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The store that answers retrieval. It is the stack's own, except on the local target, whose
/// gateway keeps its chunks in a SQLite index of its own (`opsctl local up --rag`'s default)
/// and leaves the stack's vector bucket unused: status and the dashboard must name that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrievalStore {
    Stack(VectorStore),
    /// The local gateway's SQLite index: a development double.
    LocalSqlite,
}

impl RetrievalStore {
    pub const fn as_str(self) -> &'static str {
        match self {
            RetrievalStore::Stack(store) => store.as_str(),
            RetrievalStore::LocalSqlite => "sqlite",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            RetrievalStore::Stack(store) => store.title(),
            RetrievalStore::LocalSqlite => "SQLite index, a local development double",
        }
    }
}

/// As its name, so `--output json` reads `"vector_store": "sqlite"` like the stack's stores.
impl Serialize for RetrievalStore {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The stack's embedding dimensions (`EmbeddingDimensions`), or the template's default.
pub fn dimensions(parameters: &BTreeMap<String, String>) -> u32 {
    parameters.get("EmbeddingDimensions").and_then(|d| d.parse().ok()).unwrap_or(DEFAULT_DIMENSIONS)
}

/// What the index holds: documents, their chunk vectors, and those vectors' billable bytes
/// (4 bytes a dimension, the key and the metadata, per vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Corpus {
    pub documents: u64,
    pub chunks: u64,
    pub bytes: u64,
}

/// What is known of the corpus to price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The index's own count (S3 Vectors' manifests).
    Indexed(Corpus),
    /// Only the documents in the bucket (an OpenSearch collection is not read): their chunks
    /// are assumed.
    Documents(u64),
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_store_comes_from_the_parameter_and_old_stacks_keep_opensearch() {
        let on = |store: &str| params(&[("EnableRAG", "true"), (PARAMETER, store)]);
        assert_eq!(VectorStore::in_use(&on("s3vectors")), Some(VectorStore::S3Vectors));
        assert_eq!(VectorStore::in_use(&on("opensearch")), Some(VectorStore::OpenSearch));
        assert_eq!(VectorStore::in_use(&params(&[("EnableRAG", "true")])), Some(VectorStore::OpenSearch));
        assert_eq!(VectorStore::in_use(&params(&[("EnableRAG", "false"), (PARAMETER, "s3vectors")])), None);
        assert_eq!(VectorStore::configured(&params(&[])), VectorStore::OpenSearch);
        assert_eq!(VectorStore::DEFAULT.as_str(), "s3vectors");
    }

    #[test]
    fn the_names_are_the_templates_allowed_values() {
        let main = include_str!("../../templates/main.yaml");
        let at =
            main.find(&format!("\n  {PARAMETER}:")).expect("the root template has the VectorStore parameter");
        let block: String = main[at + 1..].lines().skip(1).take_while(|l| l.starts_with("    ")).collect();
        for store in VectorStore::value_variants() {
            assert!(block.contains(store.as_str()), "{store} is not an allowed value: {block}");
        }
        assert!(block.contains(&format!("Default: {}", VectorStore::DEFAULT)), "{block}");
    }

    #[test]
    fn dimensions_default_to_the_templates() {
        assert_eq!(dimensions(&params(&[("EmbeddingDimensions", "512")])), 512);
        assert_eq!(dimensions(&params(&[])), DEFAULT_DIMENSIONS);
        let main = include_str!("../../templates/main.yaml");
        assert!(main.contains(&format!("Default: {DEFAULT_DIMENSIONS}")));
    }
}
