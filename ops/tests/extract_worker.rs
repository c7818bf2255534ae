//! opsctl as the extraction worker of its local ingestion (`opsctl local serve` reads each
//! document in opsctl re-invoked): the same limits as the ingest Lambda, and no trace of the
//! worker mode in the CLI.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chatbot_core::domain::extract::{ExtractError, ExtractLimits};
use chatbot_core::extract_worker::{IsolatedExtraction, WORKER_ARG, extract_isolated};

/// A committed fuzz seed, without its selector byte.
fn seed(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/extract_chunk").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))[1..].to_vec()
}

/// opsctl with nothing from this environment: no OPSCTL_*, AWS_* or credentials.
fn opsctl(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsctl"));
    cmd.args(args).env_clear();
    cmd
}

#[test]
fn opsctl_reads_a_pdf_and_refuses_a_compression_bomb_as_the_lambda_does() {
    let worker = IsolatedExtraction::new(env!("CARGO_BIN_EXE_opsctl"));
    let limits = ExtractLimits::default();
    let good = extract_isolated(&worker, "docs/lighthouse.pdf", seed("pdf_lighthouse"), &limits).unwrap();
    let text = good.result.expect("the sample PDF reads").text;
    assert!(text.to_lowercase().contains("lighthouse"), "{text}");

    let bomb = extract_isolated(&worker, "docs/bomb.pdf", seed("pdf_compression_bomb"), &limits).unwrap();
    assert_eq!(bomb.result, Err(ExtractError::NeedsTooMuchMemory { limit_mib: 512 }));
    assert!(bomb.peak_rss_kib <= 512 * 1024, "{} KiB", bomb.peak_rss_kib);
}

#[test]
fn the_worker_mode_is_no_subcommand_and_not_in_help() {
    let help = opsctl(&["--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: opsctl"), "{help}");
    assert!(!help.contains("worker") && !help.contains(WORKER_ARG), "{help}");

    // Garbage on stdin is refused by the worker itself (exit 2), not parsed by clap.
    let mut child = opsctl(&[WORKER_ARG, "536870912", "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"not a request").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("extraction worker: not a version-1 extraction request"), "{stderr}");
}
