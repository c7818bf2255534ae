//! What the end-to-end tests share: the real `opsctl` binary, run in the repository with a local
//! data folder of its own, and checks on what it leaves behind.
//!
//! The binary is the one `cargo test --workspace` (the README's test command) builds next to
//! these tests, in the same target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository root: where the README's commands run, and where the samples are.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/<profile>/opsctl`, beside this test's own executable in `target/<profile>/deps/`,
/// rebuilt first when cargo runs the test, so a stale binary is never what gets tested.
pub fn opsctl_binary() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        if let Some(cargo) = std::env::var_os("CARGO") {
            let status = Command::new(cargo)
                .current_dir(repo_root())
                .args(["build", "--quiet", "--locked", "-p", "opsctl", "--bin", "opsctl"])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "`cargo build -p opsctl` failed");
        }
    });
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("opsctl");
    assert!(
        bin.exists(),
        "{} is missing: run the README's test command (scripts/test), or `cargo build -p opsctl` \
         before `cargo test -p e2e`",
        bin.display()
    );
    bin
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
        Command::new(opsctl_binary())
            .current_dir(repo_root())
            .args(args)
            .env("OPSCTL_LOCAL_DIR", &self.local_dir)
            .env("OPSCTL_TARGET", "local")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .output()
            .expect("run opsctl")
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
}

impl Drop for Opsctl {
    /// Stops the local target even when an assertion failed, so no test leaves processes behind.
    fn drop(&mut self) {
        let _ = self.run(&["local", "down"]);
        let _ = std::fs::remove_dir_all(&self.local_dir);
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
