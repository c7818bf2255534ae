//! Reaping the worker together with what it used: `wait4(2)`, which neither std nor nix wraps.
//! This is the crate's only `unsafe`.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nix::libc;

/// How a reaped worker ended and what it used.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reaped {
    pub status: ExitStatus,
    /// Its peak resident set, in KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time.
    pub cpu: Duration,
}

/// Reaps the child `pid`, waiting for it to end when `block`, else returning `Ok(None)` while
/// it runs.
///
/// `pid` must be a child of this process that nothing has reaped yet (a std `Child` on which
/// neither `wait` nor `try_wait` was called). Once this returns `Some` the pid is free for
/// reuse, so the caller must never signal it, or that `Child`, again.
pub(super) fn reap(pid: u32, block: bool) -> io::Result<Option<Reaped>> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("the worker's pid is out of range"))?;
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a struct of integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to locals that outlive the call; wait4 only writes an int
        // and a rusage through them and keeps neither.
        let reaped = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        match reaped {
            0 => return Ok(None),
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            _ => break,
        }
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(Some(Reaped {
        status: ExitStatus::from_raw(status),
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
    }))
}
