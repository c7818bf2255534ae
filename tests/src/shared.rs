//! One `opsctl` data folder, so one local target, for every test of a binary, and steps that run
//! once whichever test asks first.
//!
//! The tests of a binary run as threads of one process, in any order, or only some of them. A
//! step that makes traffic (chats, uploads) must run exactly once, or the counts checked later
//! would change: it runs in the first test that asks for it, and every other test that asks
//! waits for it and reads how it went. A failed step fails the tests that report it, while the
//! tests that only needed its traffic still run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use crate::Opsctl;

/// How a step went: its panic's message when it failed.
pub type Outcome = Result<(), String>;

/// A step of a scenario, run at most once per process.
pub struct Step(OnceLock<Outcome>);

impl Step {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// Runs `body` unless it ran or is running (then waits for it); how it went either way.
    pub fn run(&'static self, body: impl FnOnce()) -> &'static Outcome {
        self.0.get_or_init(|| caught(body))
    }
}

/// `body`'s value, or its panic's message: a failed step must not stop the steps after it.
pub fn caught<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the step panicked without a message".to_owned())
    })
}

/// Fails the calling test when `outcome` failed, with the step's message.
pub fn check(outcome: &Outcome) {
    if let Err(message) = outcome {
        panic!("{message}");
    }
}

static SHARED: OnceLock<Opsctl> = OnceLock::new();

/// The binary's one [`Opsctl`], created by the first test that asks. Its local target is stopped
/// and its folder removed when the process exits: a test binary exits without dropping statics,
/// so the exit hook does what [`Opsctl`]'s `Drop` would.
pub fn shared_opsctl(name: &str) -> &'static Opsctl {
    SHARED.get_or_init(|| {
        // SAFETY: `clean_up_at_exit` is an `extern "C"` function with no arguments that never
        // unwinds, as atexit requires; registering it cannot invalidate anything.
        let registered = unsafe { nix::libc::atexit(clean_up_at_exit) };
        assert_eq!(registered, 0, "could not register the exit hook that stops the local target");
        Opsctl::new(name)
    })
}

extern "C" fn clean_up_at_exit() {
    if let Some(opsctl) = SHARED.get() {
        // A panic must not cross into the C runtime, which would abort the exit.
        let _ = catch_unwind(|| opsctl.clean_up());
    }
}
