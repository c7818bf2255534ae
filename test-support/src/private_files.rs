//! Whether a folder the local target writes is its owner's alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every entry under `dir` (itself included) whose mode is not 0700 for a folder or 0600 for a
/// file, with its mode; empty when the whole tree is owner-only.
pub fn not_owner_only(dir: &Path) -> Vec<String> {
    let mut wrong = Vec::new();
    visit(dir, &mut wrong);
    wrong
}

fn visit(path: &Path, wrong: &mut Vec<String>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    let mode = meta.permissions().mode() & 0o777;
    let want = if meta.is_dir() { 0o700 } else { 0o600 };
    if mode != want {
        wrong.push(format!("{} is {mode:o}", path.display()));
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            visit(&entry.path(), wrong);
        }
    }
}
