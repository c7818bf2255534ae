//! The parent side: start the worker, feed it, wait for it under a deadline, and say why it
//! ended.

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::libc;
use thiserror::Error;

use super::child::{EXIT_BAD_REQUEST, EXIT_DONE, EXIT_NO_LIMITS, WorkerLimits};
use super::protocol;
use super::reap::{Reaped, reap};
use crate::domain::extract::{DocumentKind, ExtractError, ExtractLimits, ExtractedText};

/// What the worker's stderr keeps: the end, where Rust reports what killed it.
const STDERR_TAIL: usize = 16 * 1024;
/// How often the parent looks whether the worker has ended, once its stdout closed.
const POLL: Duration = Duration::from_millis(1);

/// How documents are read in a worker process, and under which limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolatedExtraction {
    /// The executable started with [`super::WORKER_ARG`]: the running one, in production.
    pub program: PathBuf,
    /// The worker's address space (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// The worker's CPU time (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Wall-clock time from starting the worker to its result; then it is killed.
    pub deadline: Duration,
}

impl IsolatedExtraction {
    /// Half the ingest Lambda's 1024 MB, for one worker at a time. The parent refusing the
    /// compression bomb of runtime/ingest/tests/bomb_memory.rs peaked at 36 MiB (with in-memory
    /// S3 and index), the worker at 270 MiB: room for the SDK clients, a 20 MiB document and
    /// its text besides. A normal PDF's worker stays under 40 MiB.
    pub const MEMORY_BYTES: u64 = 512 << 20;
    /// A 500-page PDF reads in about a second of CPU; twenty leave room for a slow vCPU share.
    pub const CPU_SECONDS: u64 = 20;
    /// Well inside the handler's 120 s per document, which also covers embedding.
    pub const DEADLINE: Duration = Duration::from_secs(60);

    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            memory_bytes: Self::MEMORY_BYTES,
            cpu_seconds: Self::CPU_SECONDS,
            deadline: Self::DEADLINE,
        }
    }

    /// Workers started from the running executable, whose `main` must check
    /// [`super::requested`].
    pub fn this_executable() -> io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?))
    }
}

/// One worker's result and what it used.
#[derive(Debug)]
pub struct WorkerRun {
    pub result: Result<ExtractedText, ExtractError>,
    /// Its peak resident set in KiB (0 when no worker was needed).
    pub peak_rss_kib: u64,
    pub cpu: Duration,
    pub elapsed: Duration,
}

/// The worker could not be run at all: nothing was learnt about the document, so a retry may
/// succeed.
#[derive(Debug, Error)]
#[error("the extraction worker could not run: {0}")]
pub struct WorkerUnavailable(String);

/// Extracts the text of `document` in a worker process. Blocks for up to the deadline: call it
/// from a blocking thread.
pub fn extract_isolated(
    isolation: &IsolatedExtraction,
    key: &str,
    document: Vec<u8>,
    limits: &ExtractLimits,
) -> Result<WorkerRun, WorkerUnavailable> {
    let started = Instant::now();
    let refused = |err| WorkerRun {
        result: Err(err),
        peak_rss_kib: 0,
        cpu: Duration::ZERO,
        elapsed: started.elapsed(),
    };
    // What needs no reading is refused without a worker.
    if DocumentKind::of(key).is_none() {
        return Ok(refused(ExtractError::Unsupported));
    }
    let size = document.len() as u64;
    if size > limits.max_bytes {
        return Ok(refused(ExtractError::TooLarge { size, limit: limits.max_bytes }));
    }

    let worker_limits =
        WorkerLimits { memory_bytes: isolation.memory_bytes, cpu_seconds: isolation.cpu_seconds };
    let child = Command::new(&isolation.program)
        .arg(super::WORKER_ARG)
        .args(worker_limits.to_args())
        // The worker needs nothing from the environment, least of all AWS credentials.
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| WorkerUnavailable(format!("starting {}: {e}", isolation.program.display())))?;
    let mut worker = Worker { child, reaped: false };
    let (stdin, stdout, stderr) = worker.pipes()?;

    let header = protocol::request_header(key, limits, document.len());
    // A worker that stops reading is judged by how it ends, not by the broken pipe.
    let writer = spawn("extract-worker-stdin", move || {
        let mut stdin = stdin;
        let _ = stdin.write_all(&header).and_then(|()| stdin.write_all(&document));
    })?;
    let (closed, stdout_closed) = mpsc::channel();
    let max_response = protocol::max_response_bytes(limits);
    let reader = spawn("extract-worker-stdout", move || {
        let output = read_bounded(stdout, max_response);
        let _ = closed.send(());
        output
    })?;
    let errors = spawn("extract-worker-stderr", move || read_tail(stderr, STDERR_TAIL))?;

    let deadline = started + isolation.deadline;
    // Woken when the worker's stdout closes, which it does by exiting.
    let _ = stdout_closed.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let (reaped, killed) = worker.reap_by(deadline)?;
    let output = reader.join().unwrap_or_else(|_| Err(io::Error::other("the reader thread failed")));
    let stderr = errors.join().unwrap_or_default();
    let _ = writer.join();

    let result = if killed {
        Err(ExtractError::TookTooLong { seconds: isolation.deadline.as_secs() })
    } else {
        judge(isolation, limits, &reaped, output, &stderr)?
    };
    if let Err(e) = &result
        && !stderr.trim().is_empty()
    {
        tracing::debug!(key, error = %e, stderr = %last_lines(&stderr, 5), "extraction worker's stderr");
    }
    Ok(WorkerRun { result, peak_rss_kib: reaped.peak_rss_kib, cpu: reaped.cpu, elapsed: started.elapsed() })
}

/// Why the worker ended as it did, as the document's result.
fn judge(
    isolation: &IsolatedExtraction,
    limits: &ExtractLimits,
    reaped: &Reaped,
    output: io::Result<Option<Vec<u8>>>,
    stderr: &str,
) -> Result<Result<ExtractedText, ExtractError>, WorkerUnavailable> {
    let memory = || ExtractError::NeedsTooMuchMemory { limit_mib: isolation.memory_bytes >> 20 };
    let cpu = || ExtractError::UsedTooMuchCpu { seconds: isolation.cpu_seconds };
    let overflowed = stderr.contains("has overflowed its stack");
    // Past the bound the pipe was closed under the worker, which then ends however it ends.
    if let Ok(None) = output {
        let max = protocol::max_response_bytes(limits);
        return Ok(Err(ExtractError::ReaderCrashed(format!("its result was over {max} bytes"))));
    }
    match (reaped.status.code(), reaped.status.signal()) {
        (Some(EXIT_DONE), _) => Ok(match output {
            Ok(Some(bytes)) => protocol::read_response(&bytes, limits).unwrap_or_else(|e| {
                Err(ExtractError::ReaderCrashed(format!("its result was unreadable: {e}")))
            }),
            Ok(None) => Err(ExtractError::ReaderCrashed("its result was over the bound".into())),
            Err(e) => Err(ExtractError::ReaderCrashed(format!("its result could not be read: {e}"))),
        }),
        (Some(code @ (EXIT_BAD_REQUEST | EXIT_NO_LIMITS)), _) => {
            Err(WorkerUnavailable(format!("it exited with status {code}: {}", last_lines(stderr, 1))))
        }
        (Some(code), _) => Ok(Err(ExtractError::ReaderCrashed(format!("exit status {code}")))),
        (None, Some(libc::SIGXCPU)) => Ok(Err(cpu())),
        // The kernel's SIGKILL at the hard CPU limit; any other SIGKILL is not ours to explain.
        (None, Some(libc::SIGKILL)) if reaped.cpu.as_secs() >= isolation.cpu_seconds => Ok(Err(cpu())),
        (None, Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS)) if overflowed => {
            Ok(Err(ExtractError::NestedTooDeeply))
        }
        (None, Some(libc::SIGABRT)) if stderr.contains("memory allocation of") => Ok(Err(memory())),
        (None, Some(signal)) => {
            Ok(Err(ExtractError::ReaderCrashed(format!("killed by {}", signal_name(signal)))))
        }
        (None, None) => Ok(Err(ExtractError::ReaderCrashed(format!("it ended with {}", reaped.status)))),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGABRT => "SIGABRT (it aborted)".into(),
        libc::SIGSEGV => "SIGSEGV (a segmentation fault)".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGXFSZ => "SIGXFSZ (it tried to write a file)".into(),
        other => format!("signal {other}"),
    }
}

/// The worker process, killed and reaped on every path out, so none outlives its document
/// and none is left a zombie.
struct Worker {
    child: Child,
    reaped: bool,
}

impl Worker {
    fn pipes(
        &mut self,
    ) -> Result<
        (std::process::ChildStdin, std::process::ChildStdout, std::process::ChildStderr),
        WorkerUnavailable,
    > {
        match (self.child.stdin.take(), self.child.stdout.take(), self.child.stderr.take()) {
            (Some(stdin), Some(stdout), Some(stderr)) => Ok((stdin, stdout, stderr)),
            _ => Err(WorkerUnavailable("its pipes were not set up".into())),
        }
    }

    /// Waits for the worker to end, killing it at `deadline`; says whether it was killed.
    fn reap_by(&mut self, deadline: Instant) -> Result<(Reaped, bool), WorkerUnavailable> {
        let lost = |e: io::Error| WorkerUnavailable(format!("waiting for it: {e}"));
        loop {
            match reap(self.child.id(), false) {
                Ok(Some(reaped)) => {
                    self.reaped = true;
                    return Ok((reaped, false));
                }
                Ok(None) if Instant::now() >= deadline => break,
                Ok(None) => thread::sleep(POLL),
                Err(e) => {
                    // Not ours to wait for any more, so not ours to kill either.
                    self.reaped = true;
                    return Err(lost(e));
                }
            }
        }
        let _ = self.child.kill();
        let reaped = reap(self.child.id(), true);
        self.reaped = true;
        match reaped {
            Ok(Some(reaped)) => Ok((reaped, true)),
            Ok(None) => Err(WorkerUnavailable("it could not be reaped".into())),
            Err(e) => Err(lost(e)),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = reap(self.child.id(), true);
        }
    }
}

fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, WorkerUnavailable> {
    thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|e| WorkerUnavailable(format!("starting a thread for it: {e}")))
}

/// Everything up to `max` bytes, or `None` past it (the pipe is then closed, and a worker
/// still writing gets EPIPE).
fn read_bounded(source: impl Read, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    source.take(max as u64 + 1).read_to_end(&mut out)?;
    Ok((out.len() <= max).then_some(out))
}

/// The last `keep` bytes of everything `source` writes, as text.
fn read_tail(mut source: impl Read, keep: usize) -> String {
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = source.read(&mut buf) {
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * keep {
            tail.drain(..tail.len() - keep);
        }
    }
    let start = tail.len().saturating_sub(keep);
    String::from_utf8_lossy(&tail[start..]).into_owned()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tail_of_stderr_is_kept() {
        let noise = [b"x".repeat(100_000), b"\nmemory allocation of 8 bytes failed\n".to_vec()].concat();
        let tail = read_tail(noise.as_slice(), 1024);
        assert_eq!(tail.len(), 1024);
        assert!(tail.ends_with("memory allocation of 8 bytes failed\n"));
        assert_eq!(last_lines(&tail, 1), "memory allocation of 8 bytes failed");
    }

    #[test]
    fn output_past_the_bound_is_refused() {
        assert_eq!(read_bounded(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_bounded(&b"abcd"[..], 3).unwrap(), None);
    }

    #[test]
    fn a_program_that_cannot_start_is_unavailable_not_a_refusal() {
        let isolation = IsolatedExtraction::new("/nonexistent/chatbot-worker");
        let err = extract_isolated(&isolation, "docs/a.md", b"# hi".to_vec(), &ExtractLimits::default())
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/chatbot-worker"), "{err}");
    }

    #[test]
    fn unsupported_and_oversized_documents_need_no_worker() {
        let isolation = IsolatedExtraction::new("/nonexistent/chatbot-worker");
        let limits = ExtractLimits { max_bytes: 3, ..ExtractLimits::default() };
        let run = extract_isolated(&isolation, "docs/a.jpg", vec![0; 2], &limits).unwrap();
        assert_eq!(run.result, Err(ExtractError::Unsupported));
        let run = extract_isolated(&isolation, "docs/a.md", vec![b'a'; 4], &limits).unwrap();
        assert_eq!(run.result, Err(ExtractError::TooLarge { size: 4, limit: 3 }));
    }
}
