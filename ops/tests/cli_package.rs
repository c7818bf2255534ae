//! `opsctl package --arch x86_64`, run as the real binary: a release build of every function,
//! zipped with `bootstrap` inside, loadable by Lambda's provided.al2023 (glibc <= 2.34).

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use opsctl::package::glibc::{PROVIDED_AL2023, required_glibc};
use sha2::{Digest, Sha256};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn package_builds_zips_whose_bootstrap_runs_on_provided_al2023() {
    let out = support::isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
        .current_dir(workspace_root())
        .args(["package", "--arch", "x86_64", "--output", "json"])
        .output()
        .expect("run opsctl package");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "opsctl package failed:\n{stderr}");
    let artifacts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let artifacts = artifacts.as_array().unwrap();
    let functions: Vec<&str> = artifacts.iter().map(|a| a["function"].as_str().unwrap()).collect();
    assert_eq!(functions, ["chat", "ingest", "retrieve"], "one zip per Lambda");

    for a in artifacts {
        let path = PathBuf::from(a["path"].as_str().unwrap());
        assert!(
            path.ends_with(format!("lambda/{}/bootstrap.zip", a["function"].as_str().unwrap())),
            "{}",
            path.display()
        );
        let zip_bytes = std::fs::read(&path).unwrap();
        assert_eq!(a["bytes"].as_u64(), Some(zip_bytes.len() as u64));
        let sha: String = Sha256::digest(&zip_bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(a["sha256"].as_str(), Some(sha.as_str()));

        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
        assert_eq!(archive.len(), 1, "only bootstrap in the zip");
        let mut entry = archive.by_name("bootstrap").unwrap();
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut binary = Vec::new();
        entry.read_to_end(&mut binary).unwrap();
        let glibc = required_glibc(&binary).unwrap();
        assert!(glibc.is_none_or(|v| v <= PROVIDED_AL2023), "{} needs glibc {glibc:?}", path.display());
        assert_eq!(a["glibc"].as_str().map(str::to_owned), glibc.map(|v| v.to_string()));
    }
}
