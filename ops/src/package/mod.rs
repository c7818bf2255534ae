//! Builds the runtime Lambdas into content-addressed zips with `bootstrap` inside, refusing any
//! binary that needs a newer glibc than the Lambda runtime has.

pub mod glibc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::ValueEnum;
use serde::Serialize;

use glibc::{GlibcVersion, PROVIDED_AL2023};

pub use crate::functions::Function;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

impl Arch {
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// The name CloudFormation's `Architectures` takes.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }
}

/// The cargo workspace opsctl builds from.
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub packages: Vec<String>,
}

impl Workspace {
    pub fn locate() -> anyhow::Result<Self> {
        let out = Command::new("cargo")
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .context("could not run cargo: opsctl package needs the Rust toolchain (https://rustup.rs)")?;
        if !out.status.success() {
            bail!("opsctl package builds from the project's source: run it inside the opsctl repository");
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
        let path = |k: &str| meta[k].as_str().map(PathBuf::from).context("cargo metadata lacks paths");
        let packages = meta["packages"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        Ok(Self { root: path("workspace_root")?, target_dir: path("target_directory")?, packages })
    }

    pub fn has(&self, f: Function) -> bool {
        self.packages.contains(&f.package())
    }

    pub fn zip_path(&self, f: Function) -> PathBuf {
        self.target_dir.join("lambda").join(f.name()).join("bootstrap.zip")
    }
}

/// How the binary is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// cargo-lambda with zig, linking against glibc 2.34 whatever this machine has.
    CargoLambda(PathBuf),
    /// Plain cargo: links against this machine's glibc.
    Cargo,
}

impl Builder {
    /// cargo-lambda from the project's `.venv` (scripts/test installs it), else from PATH.
    pub fn find(root: &Path) -> Builder {
        let venv = root.join(".venv/bin/cargo-lambda");
        if venv.exists() {
            return Builder::CargoLambda(venv);
        }
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join("cargo-lambda"))
            .find(|p| p.exists());
        on_path.map_or(Builder::Cargo, Builder::CargoLambda)
    }

    pub fn describe(&self) -> String {
        match self {
            Builder::CargoLambda(_) => {
                format!("cargo-lambda with zig, linked against glibc {PROVIDED_AL2023}")
            }
            Builder::Cargo => "plain cargo, linked against this machine's glibc".into(),
        }
    }
}

/// Fails, with the command that fixes it, when the Rust target is missing.
pub fn check_target(arch: Arch) -> anyhow::Result<()> {
    let Ok(out) = Command::new("rustup").args(["target", "list", "--installed"]).output() else {
        return Ok(()); // no rustup: let cargo report it
    };
    match missing_target(arch, &String::from_utf8_lossy(&out.stdout)) {
        Some(message) => bail!(message),
        None => Ok(()),
    }
}

/// The error for `arch` given `rustup target list --installed`'s output, if its target is absent.
pub fn missing_target(arch: Arch, installed: &str) -> Option<String> {
    if installed.lines().any(|l| l.trim() == arch.triple()) {
        return None;
    }
    Some(format!(
        "the Rust target {t} is not installed: run `rustup target add {t}` and try again{extra}",
        t = arch.triple(),
        extra = if arch == Arch::Arm64 {
            " (or package with --arch x86_64 and deploy with Architecture=x86_64)"
        } else {
            ""
        }
    ))
}

/// Compiles one function in release mode; returns the binary's path.
pub fn build(ws: &Workspace, builder: &Builder, arch: Arch, f: Function) -> anyhow::Result<PathBuf> {
    let package = f.package();
    let status = match builder {
        Builder::CargoLambda(exe) => {
            let lambda_dir = ws.target_dir.join("lambda-build").join(arch.lambda_name());
            // cargo-lambda runs zig through `python3 -m ziglang`; the venv's python has it.
            let mut path = exe.parent().map(Path::to_path_buf).into_iter().collect::<Vec<_>>();
            path.extend(
                std::env::var_os("PATH")
                    .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
            let status = Command::new(exe)
                .current_dir(&ws.root)
                .env("PATH", std::env::join_paths(path)?)
                .args(["lambda", "build", "--release", "--compiler", "cargo-zigbuild"])
                .args(["--target", &format!("{}.{}", arch.triple(), PROVIDED_AL2023)])
                .args(["--package", &package, "--bin", f.name()])
                .arg("--lambda-dir")
                .arg(&lambda_dir)
                .status()
                .with_context(|| format!("could not run {}", exe.display()))?;
            if status.success() {
                return Ok(lambda_dir.join(f.name()).join("bootstrap"));
            }
            status
        }
        Builder::Cargo => {
            let status = Command::new("cargo")
                .current_dir(&ws.root)
                .args([
                    "build",
                    "--release",
                    "--target",
                    arch.triple(),
                    "--package",
                    &package,
                    "--bin",
                    f.name(),
                ])
                .status()
                .context("could not run cargo")?;
            if status.success() {
                return Ok(ws.target_dir.join(arch.triple()).join("release").join(f.name()));
            }
            status
        }
    };
    bail!(
        "building {} for {} failed ({status}); the compiler's messages are above",
        f.name(),
        arch.lambda_name()
    )
}

/// Refuses a binary the Lambda runtime could not load.
pub fn check_glibc(f: Function, binary: &[u8]) -> anyhow::Result<Option<GlibcVersion>> {
    let needed = glibc::required_glibc(binary).with_context(|| format!("reading the {} binary", f.name()))?;
    if let Some(v) = needed
        && v > PROVIDED_AL2023
    {
        bail!(
            "the {} binary needs glibc {v}, but Lambda's provided.al2023 runtime has {PROVIDED_AL2023}: it would fail \
             at cold start. Build with cargo-lambda and zig (scripts/test installs them into .venv/), which link \
             against glibc {PROVIDED_AL2023}",
            f.name()
        );
    }
    Ok(needed)
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub function: Function,
    pub arch: Arch,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// The newest glibc the binary needs (none: static).
    pub glibc: Option<String>,
}

/// Builds, checks and zips each function, reporting progress on stderr.
pub fn build_artifacts(ws: &Workspace, arch: Arch, functions: &[Function]) -> anyhow::Result<Vec<Artifact>> {
    check_target(arch)?;
    let builder = Builder::find(&ws.root);
    if builder == Builder::Cargo {
        eprintln!(
            "warning: cargo-lambda not found; building with plain cargo, which links against this machine's glibc. \
             The binary is refused below if it needs more than Lambda has. Run scripts/test once to install \
             cargo-lambda and zig into .venv/."
        );
    }
    let mut artifacts = Vec::new();
    for &f in functions {
        eprintln!("==> building {} for {} ({})", f.name(), arch.lambda_name(), builder.describe());
        let binary = build(ws, &builder, arch, f)?;
        let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        let glibc = check_glibc(f, &bytes)?;
        let path = ws.zip_path(f);
        let (size, sha256) = zip_bootstrap(&bytes, &path)?;
        artifacts.push(Artifact {
            function: f,
            arch,
            path,
            bytes: size,
            sha256,
            glibc: glibc.map(|v| v.to_string()),
        });
    }
    Ok(artifacts)
}

/// Writes `bootstrap.zip` with `bootstrap` inside, mode 0755. Every timestamp is fixed, so the
/// same binary always gives the same zip and the same sha256: an unchanged function is never
/// uploaded or redeployed again.
pub fn zip_bootstrap(binary: &[u8], out: &Path) -> anyhow::Result<(u64, String)> {
    use zip::write::SimpleFileOptions;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755)
            .last_modified_time(zip::DateTime::default());
        zip.start_file("bootstrap", options)?;
        zip.write_all(binary)?;
        zip.finish()?;
    }
    let bytes = buf.into_inner();
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let sha = crate::templates::sha256_hex(&bytes);
    Ok((bytes.len() as u64, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_reproducible_and_hold_an_executable_bootstrap() {
        let dir = std::env::temp_dir().join(format!("opsctl-zip-{}", std::process::id()));
        let (a, b) = (dir.join("a.zip"), dir.join("b.zip"));
        let (size, sha1) = zip_bootstrap(b"\x7fELF fake binary", &a).unwrap();
        let (_, sha2) = zip_bootstrap(b"\x7fELF fake binary", &b).unwrap();
        assert_eq!(sha1, sha2);
        assert_eq!(size, std::fs::metadata(&a).unwrap().len());
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
        let entry = archive.by_name("bootstrap").unwrap();
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_missing_target_names_the_rustup_command() {
        let only_x86 = "x86_64-unknown-linux-gnu\n";
        let err = missing_target(Arch::Arm64, only_x86).unwrap();
        assert!(err.contains("rustup target add aarch64-unknown-linux-gnu"), "{err}");
        assert!(err.contains("--arch x86_64"));
        assert_eq!(missing_target(Arch::X86_64, only_x86), None);
        assert!(
            missing_target(Arch::X86_64, "").unwrap().contains("rustup target add x86_64-unknown-linux-gnu")
        );
    }

    #[test]
    fn a_binary_needing_a_newer_glibc_is_refused() {
        // /bin/true with its GLIBC_2.34 requirement rewritten to GLIBC_2.99 (same length).
        let mut bytes = std::fs::read("/bin/true").unwrap();
        let needle = b"GLIBC_2.34";
        let at = bytes.windows(needle.len()).position(|w| w == needle).expect("/bin/true needs GLIBC_2.34");
        bytes[at..at + needle.len()].copy_from_slice(b"GLIBC_2.99");
        let err = check_glibc(Function::Chat, &bytes).unwrap_err().to_string();
        assert!(err.contains("needs glibc 2.99") && err.contains("cargo-lambda"), "{err}");
    }
}
