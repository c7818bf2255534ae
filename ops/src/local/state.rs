//! What `opsctl local up` started, recorded so that every later command finds the local target
//! of an environment without extra flags, and `local down` stops exactly what `up` started.
//!
//! The file lives under the local data folder (`.local/` in the working directory, ignored by
//! git; `OPSCTL_LOCAL_DIR` moves it), one folder per environment, readable by its owner only,
//! like everything in that folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Env;
use crate::local::openai::ModelSpec;

/// The region the local target's emulator is used in.
pub const LOCAL_REGION: &str = "us-east-1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    pub env: String,
    pub emulator: Process,
    /// `None` until the stack is deployed and the gateway started.
    pub gateway: Option<Process>,
    pub rag: bool,
    /// Where the vectors live with RAG on (older state files name none: the SQLite index).
    #[serde(default)]
    pub vector_store: VectorStore,
    /// The embedder RAG runs (older state files name none: local/hashing).
    #[serde(default)]
    pub embedder: LocalEmbedder,
    /// `--score-floor`, when it replaced the embedder's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_floor: Option<f32>,
    /// The chat model the gateway runs (older state files name none: the development double).
    #[serde(default)]
    pub model: ModelSpec,
    /// The pause between the development model's streamed words (older state files: the default).
    #[serde(default = "default_word_delay_ms")]
    pub word_delay_ms: u64,
    pub started_at: String,
}

/// Slow enough to watch a reply grow, about as fast as a remote model writes.
pub const DEFAULT_WORD_DELAY_MS: u64 = 30;

fn default_word_delay_ms() -> u64 {
    DEFAULT_WORD_DELAY_MS
}

/// The embedder a local target runs, as its state file records it (what each needs is in
/// `local::embedder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalEmbedder {
    /// Older state files name none: they ran local/hashing.
    #[default]
    Hashing,
    Minilm,
}

/// The local target's vector store: OpenSearch Serverless has no data plane on the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VectorStore {
    /// The embedded SQLite index: a development double, fast and persistent.
    #[default]
    Sqlite,
    /// The real S3 Vectors adapter, against the emulator's vector bucket.
    S3vectors,
}

impl VectorStore {
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::S3vectors => "s3vectors",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Sqlite => "the SQLite index, a development double",
            Self::S3vectors => "the S3 Vectors adapter on the emulator",
        }
    }
}

impl LocalState {
    pub fn emulator_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.emulator.port)
    }

    /// How the SDK reaches this target's emulator: its URL, its region, its dummy credentials.
    pub fn emulator_aws(&self) -> crate::aws::AwsArgs {
        crate::aws::AwsArgs::emulator(self.emulator_url(), LOCAL_REGION)
    }

    pub fn gateway_url(&self) -> Option<String> {
        self.gateway.as_ref().map(|g| format!("http://127.0.0.1:{}", g.port))
    }
}

/// The local data folder of `env`.
pub fn env_dir(env: Env) -> PathBuf {
    let root =
        std::env::var_os("OPSCTL_LOCAL_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".local"));
    root.join(env.as_str())
}

/// Creates `env`'s local data folder, or tightens one an older opsctl made: owner-only (0700),
/// as everything in it is (0600): the token, the conversations' keys on the emulator, the
/// document index and the logs.
pub fn private_env_dir(env: Env) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = env_dir(env);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} owner-only", dir.display()))?;
    Ok(dir)
}

/// Creates (or truncates) a file readable and writable by its owner only, whatever the umask;
/// an existing file is tightened too.
pub fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} owner-only", path.display()))?;
    Ok(file)
}

fn state_path(env: Env) -> PathBuf {
    env_dir(env).join("state.json")
}

/// The recorded state of `env`'s local target, if any.
pub fn load(env: Env) -> anyhow::Result<Option<LocalState>> {
    let path = state_path(env);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!("{} is corrupt: delete it after stopping what it names", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn save(state: &LocalState, env: Env) -> anyhow::Result<()> {
    private_env_dir(env)?;
    let path = state_path(env);
    let tmp = path.with_extension("json.tmp");
    write_private(&tmp, &serde_json::to_vec_pretty(state)?)?;
    // A rename is atomic: a crash leaves the old state or the new, never half of one.
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

pub fn remove(env: Env) -> anyhow::Result<()> {
    match std::fs::remove_file(state_path(env)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_privately() {
        let dir = std::env::temp_dir().join(format!("opsctl-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let state = LocalState {
            env: "dev".into(),
            emulator: Process { pid: 10, port: 4566 },
            gateway: Some(Process { pid: 11, port: 8080 }),
            rag: true,
            vector_store: VectorStore::S3vectors,
            embedder: LocalEmbedder::Hashing,
            score_floor: None,
            model: "openai:http://127.0.0.1:11434/v1#llama3.2".parse().unwrap(),
            word_delay_ms: 50,
            started_at: "2026-11-25T00:00:00Z".into(),
        };
        write_private(&path, &serde_json::to_vec(&state).unwrap()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let back: LocalState = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.gateway_url().as_deref(), Some("http://127.0.0.1:8080"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
