//! Reading untrusted documents in a child process under resource limits.
//!
//! lopdf bounds what a stream inflates to, not what parsing the result allocates: a 2 KB PDF
//! whose object streams inflate to a few tens of MiB of integers becomes gigabytes of objects,
//! and a reader that recurses can overflow its stack. In the ingestion Lambda either would end
//! the process, every other document of the event with it, and asynchronous invocation would
//! retry the event into the dead-letter queue. So the Lambda, and opsctl's local ingestion,
//! re-invoke their own executable as a worker for each document ([`WORKER_ARG`]): the worker
//! caps its address space, CPU time, file size, open files and core dumps before it reads a
//! byte, reads one request on stdin and writes one result on stdout. The parent kills it at a
//! wall-clock deadline, and turns whichever limit ended it into a permanent [`ExtractError`]
//! that names the limit, so the document is rejected once instead of retried.
//!
//! [`ExtractError`]: crate::domain::extract::ExtractError

mod child;
mod parent;
mod protocol;
mod reap;

pub use child::run;
pub use parent::{IsolatedExtraction, WorkerRun, WorkerUnavailable, extract_isolated};

/// The first argument that makes an executable the extraction worker: its `main` checks
/// [`requested`] before anything else and then calls [`run`].
pub const WORKER_ARG: &str = "__chatbot-extract-worker";

/// In debug builds only, makes the worker misbehave for the tests that check the parent's
/// limits: `hang` (never reads its request), `spin` (burns CPU), `overflow` (runs out of stack).
pub const TEST_MISBEHAVIOUR_VAR: &str = "CHATBOT_EXTRACT_WORKER_TEST";

/// Whether this process was started as the extraction worker.
pub fn requested() -> bool {
    std::env::args_os().nth(1).is_some_and(|arg| arg == WORKER_ARG)
}
