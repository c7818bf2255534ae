//! What the end-to-end tests share: the real `opsctl` binary, run in the repository with a local
//! data folder of its own, and checks on what it leaves behind.
//!
//! The binary is the one `cargo test --workspace` (the README's test command) builds next to
//! these tests, in the same target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub mod shared;

pub use test_support::isolate::{self, isolated};
pub use test_support::private_files::not_owner_only;

/// The repository root: where the README's commands run, and where the samples are.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/<profile>/opsctl`, beside this test's own executable in `target/<profile>/deps/`.
///
/// Cargo builds it for opsctl's own integration tests, so `cargo test --workspace` (the README's
/// test command) or `cargo test -p opsctl -p e2e` leaves a current one there. Building it from
/// here instead would build it with other features, recompiling much of the dependency graph;
/// a binary older than the sources is refused rather than tested.
pub fn opsctl_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the test's own path: {e}"))?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("not in target/<profile>/deps/")?;
    let bin = profile_dir.join("opsctl");
    let how = "run `cargo test -p opsctl -p e2e` (`--test local_target` alone does not build \
               opsctl's binary), or the README's test command (scripts/test)";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|_| format!("{} is missing: {how}", bin.display()))?;
    let newest_source =
        ["ops/src", "runtime/core/src"].iter().filter_map(|dir| newest_mtime(&repo_root().join(dir))).max();
    if newest_source.is_some_and(|source| source > built) {
        return Err(format!("{} is older than its sources: {how}", bin.display()));
    }
    Ok(bin)
}

fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() { newest_mtime(&path) } else { entry.metadata().ok()?.modified().ok() };
        newest = newest.max(time);
    }
    newest
}

/// One run of `opsctl`, isolated by `local_dir` (OPSCTL_LOCAL_DIR), never touching AWS.
pub struct Opsctl {
    pub local_dir: PathBuf,
}

impl Opsctl {
    pub fn new(name: &str) -> Self {
        let local_dir = std::env::temp_dir().join(format!("opsctl-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&local_dir);
        Self { local_dir }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.try_run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_run(&self, args: &[&str]) -> Result<Output, String> {
        isolate::isolated(&mut Command::new(opsctl_binary()?))
            .current_dir(repo_root())
            .args(args)
            .env("OPSCTL_LOCAL_DIR", &self.local_dir)
            .env("OPSCTL_TARGET", "local")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running opsctl: {e}"))
    }

    /// Runs `args` with `--output json`, asserting success, and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "opsctl {} failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("opsctl {}: not JSON ({e}):\n{}", args.join(" "), String::from_utf8_lossy(&out.stdout))
        })
    }

    /// Stops the local target and removes its data folder, whatever state they are in.
    pub fn clean_up(&self) {
        // Never panic here: a failed test may be unwinding through it, or the process exiting.
        let _ = self.try_run(&["local", "down"]);
        let _ = std::fs::remove_dir_all(&self.local_dir);
    }
}

impl Drop for Opsctl {
    /// Stops the local target even when an assertion failed, so no test leaves processes behind.
    fn drop(&mut self) {
        self.clean_up();
    }
}

pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(200),
    )
    .is_ok()
}

/// Whether `pid` has exited (a zombie has: only its parent's bookkeeping is left).
pub fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// The sources a chat reply cites.
pub fn cited(reply: &Value) -> Vec<String> {
    reply["citations"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["source"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
