//! The benches' memory figures, from the kernel's own accounting of this process.

/// A `/proc/self/status` figure in KiB (`VmHWM:`, `VmRSS:`), 0 where there is none.
pub fn status_kib(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
