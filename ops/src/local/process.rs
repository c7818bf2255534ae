//! The local target's processes: starting the emulator and the gateway detached from the
//! terminal, checking that a recorded pid is still the process we started, and stopping it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// What a process of ours has in its command line, so a recycled pid is never signalled.
pub const EMULATOR_MARK: &str = "scripts/emulator/serve.py";
pub const GATEWAY_MARK: &str = "local serve";

pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

/// Whether `pid` is alive and runs a command line holding `mark` (so it is still ours).
pub fn is_ours(pid: u32, mark: &str) -> bool {
    !exited(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " ").contains(mark))
            .unwrap_or(false)
}

/// Gone, or a zombie: exited, with only its parent's bookkeeping left.
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
    }
}

/// What a detached process may see of the caller's AWS variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsVariables {
    Inherit,
    /// The emulator: it needs none, and boto inside it stops at start on an `AWS_PROFILE` that
    /// names a profile it cannot find.
    Remove,
}

/// Starts `program args` in its own process group, detached from our terminal, logging to `log`.
pub fn spawn_detached(program: &Path, args: &[String], log: &Path, aws: AwsVariables) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    // The gateway's log quotes document names and errors: owner-only, like the rest of `.local`.
    let out = super::state::create_private(log)?;
    let mut command = Command::new(program);
    if aws == AwsVariables::Remove {
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("AWS_")) {
                command.env_remove(name);
            }
        }
    }
    let child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    Ok(child.id())
}

/// Waits until `port` accepts connections, or fails naming the log to read.
pub fn wait_for_port(port: u16, pid: u32, what: &str, log: &Path, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if port_open(port) {
            return Ok(());
        }
        if exited(pid) {
            bail!("the {what} exited while starting; its log is {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the {what} did not open port {port} within {timeout:?}; its log is {}", log.display())
}

/// Stops `pid` if it is still ours: SIGTERM, then SIGKILL after a grace period.
pub fn stop(pid: u32, mark: &str) -> anyhow::Result<bool> {
    if !is_ours(pid, mark) {
        return Ok(false);
    }
    signal(pid, "TERM")?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if exited(pid) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, "KILL")?;
    while !exited(pid) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(true)
}

fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status()?;
    if !status.success() && !exited(pid) {
        bail!("could not signal process {pid}");
    }
    Ok(())
}

/// The project's moto interpreter: `.venv/bin/python` (or `MOTO_PYTHON`), with moto importable.
pub fn emulator_python() -> anyhow::Result<PathBuf> {
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import moto.server, cbor2"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok || !Path::new(EMULATOR_MARK).exists() {
        bail!(
            "the emulator is not installed here: run `opsctl local up` from the repository's root after \
             `scripts/test` (or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5' cbor2==6.2.1`)"
        );
    }
    Ok(python)
}
