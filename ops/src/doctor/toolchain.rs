//! What `opsctl package` needs to build the Lambdas for an architecture, checked the way package
//! uses it: the repository's source, the Rust target (package refuses to start without it), and
//! cargo-lambda with zig (which link against Lambda's glibc; plain cargo is a fallback that may
//! produce a binary package then refuses).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Check, names};
use crate::package::{Arch, Builder, Workspace};

/// What was found on this machine.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The repository's root, or why it was not found.
    pub workspace: Result<PathBuf, String>,
    /// `rustup target list --installed`; `None` without rustup.
    pub installed_targets: Option<String>,
    pub builder: Builder,
    /// Whether cargo-lambda can run zig (only looked for when cargo-lambda is there).
    pub zig: bool,
}

pub fn probe() -> Probe {
    let workspace = Workspace::locate().map(|w| w.root).map_err(|e| e.to_string());
    let installed_targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let builder = workspace.as_ref().map_or(Builder::Cargo, |root| Builder::find(root));
    let zig = match &builder {
        Builder::CargoLambda(exe) => zig_available(exe),
        Builder::Cargo => false,
    };
    Probe { workspace, installed_targets, builder, zig }
}

pub fn lambda_target(arch: Arch, probe: &Probe) -> Check {
    let name = names::LAMBDA_TARGET;
    let triple = arch.triple();
    if let Err(why) = &probe.workspace {
        return Check::fail(
            name,
            format!("cannot build here: {why}"),
            Some(
                "run opsctl from the repository's root, or deploy zips built elsewhere with --no-package"
                    .into(),
            ),
        );
    }
    let Some(installed) = &probe.installed_targets else {
        return Check::warn(
            name,
            format!("rustup not found: cannot tell whether the Rust target {triple} is installed"),
            Some(format!(
                "install Rust through rustup (https://rustup.rs), then `rustup target add {triple}`"
            )),
        );
    };
    if !installed.lines().any(|l| l.trim() == triple) {
        let other =
            if arch == Arch::Arm64 { ", or build and deploy for x86_64 with --arch x86_64" } else { "" };
        return Check::fail(
            name,
            format!("the Rust target {triple} is not installed"),
            Some(format!("run `rustup target add {triple}`{other}")),
        );
    }
    match &probe.builder {
        Builder::Cargo => Check::warn(
            name,
            format!(
                "{triple} is installed, but not cargo-lambda: plain cargo links against this machine's glibc{}",
                if arch == Arch::Arm64 { " and needs a cross linker for arm64" } else { "" }
            ),
            Some("run scripts/package once: it installs cargo-lambda with zig into .venv/".into()),
        ),
        Builder::CargoLambda(exe) if !probe.zig => Check::fail(
            name,
            format!("{} cannot find zig, which it builds with", exe.display()),
            Some(
                "run scripts/package (it installs cargo-lambda with zig into .venv/), or put zig on PATH"
                    .into(),
            ),
        ),
        Builder::CargoLambda(exe) => {
            Check::pass(name, format!("{triple} installed; cargo-lambda with zig ({})", exe.display()))
        }
    }
}

/// cargo-lambda runs `zig`, or `python3 -m ziglang` (the pip package's), with its own folder
/// first on PATH as package puts it.
fn zig_available(cargo_lambda: &Path) -> bool {
    let mut path: Vec<PathBuf> = cargo_lambda.parent().map(Path::to_path_buf).into_iter().collect();
    path.extend(
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default(),
    );
    if path.iter().any(|dir| dir.join("zig").is_file()) {
        return true;
    }
    let Ok(joined) = std::env::join_paths(&path) else { return false };
    Command::new("python3")
        .env("PATH", joined)
        .args(["-c", "import ziglang"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Outcome;

    fn probe(targets: Option<&str>, builder: Builder, zig: bool) -> Probe {
        Probe {
            workspace: Ok(PathBuf::from("/repo")),
            installed_targets: targets.map(str::to_owned),
            builder,
            zig,
        }
    }

    #[test]
    fn the_target_cargo_lambda_and_zig_are_what_package_needs() {
        let lambda = Builder::CargoLambda(PathBuf::from("/repo/.venv/bin/cargo-lambda"));
        let ok =
            lambda_target(Arch::Arm64, &probe(Some("aarch64-unknown-linux-gnu\n"), lambda.clone(), true));
        assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");

        let missing =
            lambda_target(Arch::Arm64, &probe(Some("x86_64-unknown-linux-gnu\n"), lambda.clone(), true));
        assert_eq!(missing.outcome, Outcome::Fail);
        assert!(missing.hint.unwrap().contains("rustup target add aarch64-unknown-linux-gnu"));

        let no_zig = lambda_target(Arch::X86_64, &probe(Some("x86_64-unknown-linux-gnu\n"), lambda, false));
        assert_eq!(no_zig.outcome, Outcome::Fail);
        assert!(no_zig.hint.unwrap().contains("scripts/package"));

        let plain =
            lambda_target(Arch::X86_64, &probe(Some("x86_64-unknown-linux-gnu\n"), Builder::Cargo, false));
        assert_eq!(plain.outcome, Outcome::Warn, "package falls back to plain cargo");

        let no_rustup = lambda_target(Arch::X86_64, &probe(None, Builder::Cargo, false));
        assert_eq!(no_rustup.outcome, Outcome::Warn);

        let elsewhere =
            Probe { workspace: Err("not the repository".into()), ..probe(None, Builder::Cargo, false) };
        assert_eq!(lambda_target(Arch::Arm64, &elsewhere).outcome, Outcome::Fail);
    }
}
