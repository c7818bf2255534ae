//! The worker: limits first, then one request in and one result out.

use std::io::{self, Write};
use std::process::ExitCode;

use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};

use super::protocol;
use crate::domain::extract::{ExtractError, extract};

/// The worker wrote a result (whatever it says).
pub(super) const EXIT_DONE: i32 = 0;
/// Its arguments or its request were not what the parent sends.
pub(super) const EXIT_BAD_REQUEST: i32 = 2;
/// It could not lower its own limits, so it did not read the document.
pub(super) const EXIT_NO_LIMITS: i32 = 3;
/// The parent stopped reading its result.
pub(super) const EXIT_WRITE_FAILED: i32 = 4;

/// Stdin, stdout and stderr, and a little room; the worker opens nothing.
const OPEN_FILES: rlim_t = 8;

/// The limits the parent gives on the command line, after [`super::WORKER_ARG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WorkerLimits {
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
}

impl WorkerLimits {
    pub fn to_args(self) -> [String; 2] {
        [self.memory_bytes.to_string(), self.cpu_seconds.to_string()]
    }

    fn from_args(mut args: impl Iterator<Item = String>) -> Option<Self> {
        let memory_bytes = args.next()?.parse().ok()?;
        let cpu_seconds = args.next()?.parse().ok()?;
        args.next().is_none().then_some(Self { memory_bytes, cpu_seconds })
    }
}

/// The worker's `main`: sets its limits, reads one request from stdin, writes the result to
/// stdout and exits. Called by an executable's `main` when [`super::requested`] says so,
/// before it starts an async runtime or anything else that would take memory or threads.
pub fn run() -> ExitCode {
    let Some(limits) = WorkerLimits::from_args(std::env::args().skip(2)) else {
        eprintln!("extraction worker: expected <memory bytes> <cpu seconds> after {}", super::WORKER_ARG);
        return exit(EXIT_BAD_REQUEST);
    };
    if let Err(e) = apply(limits) {
        eprintln!("extraction worker: could not set its resource limits: {e}");
        return exit(EXIT_NO_LIMITS);
    }
    #[cfg(debug_assertions)]
    misbehave_if_asked();
    let request = match protocol::read_request(&mut io::stdin().lock()) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("extraction worker: {e}");
            return exit(EXIT_BAD_REQUEST);
        }
    };
    let result = std::panic::catch_unwind(|| extract(&request.key, &request.document, &request.limits))
        .unwrap_or_else(|_| Err(ExtractError::ReaderCrashed("it panicked".into())));
    drop(request);
    let mut out = io::stdout().lock();
    match protocol::write_response(&mut out, &result).and_then(|()| out.flush()) {
        Ok(()) => exit(EXIT_DONE),
        Err(e) => {
            eprintln!("extraction worker: writing the result: {e}");
            exit(EXIT_WRITE_FAILED)
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn apply(limits: WorkerLimits) -> nix::Result<()> {
    // Allocation past this fails, and Rust aborts with "memory allocation of N bytes failed".
    lower(Resource::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)?;
    // SIGXCPU at the soft limit; the kernel's SIGKILL a second later if that were ignored.
    lower(Resource::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds.saturating_add(1))?;
    lower(Resource::RLIMIT_FSIZE, 0, 0)?;
    lower(Resource::RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES)?;
    lower(Resource::RLIMIT_CORE, 0, 0)
}

/// Sets a limit no higher than the one in force: raising a hard limit needs privilege.
fn lower(resource: Resource, soft: rlim_t, hard: rlim_t) -> nix::Result<()> {
    let (_, current_hard) = getrlimit(resource)?;
    let hard = hard.min(current_hard);
    setrlimit(resource, soft.min(hard), hard)
}

/// See [`super::TEST_MISBEHAVIOUR_VAR`]. Debug builds only: the Lambda and opsctl ship release
/// builds, where the variable means nothing.
#[cfg(debug_assertions)]
fn misbehave_if_asked() {
    use std::hint::black_box;
    match std::env::var(super::TEST_MISBEHAVIOUR_VAR).as_deref() {
        Ok("hang") => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Ok("spin") => {
            let mut n = 0u64;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        Ok("overflow") => {
            black_box(recurse(black_box(0)));
        }
        _ => {}
    }
}

#[cfg(debug_assertions)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 256]);
    if depth == u64::MAX { frame[0] } else { recurse(depth + 1).wrapping_add(frame[255]) }
}
