//! The ingest Lambda's executable as the extraction worker: what each limit does to a hostile
//! document, and that an honest one reads exactly as it does in-process.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use chatbot_core::domain::extract::{ExtractError, ExtractLimits, extract};
use chatbot_core::extract_worker::{IsolatedExtraction, TEST_MISBEHAVIOUR_VAR, WorkerRun, extract_isolated};
use support::{bomb, lambda_worker, pdf};

fn run(isolation: &IsolatedExtraction, key: &str, document: Vec<u8>) -> WorkerRun {
    wrappers();
    extract_isolated(isolation, key, document, &ExtractLimits::default()).expect("the worker runs")
}

/// The ingest executable behind a shell script that sets [`TEST_MISBEHAVIOUR_VAR`] (the parent
/// gives the worker an empty environment). Written once, before any test starts a worker: a
/// script still open for writing while another thread forks cannot be executed.
fn wrapper(misbehaviour: &str) -> IsolatedExtraction {
    let path =
        wrappers().iter().find(|(name, _)| name == misbehaviour).expect("a known misbehaviour").1.clone();
    IsolatedExtraction { program: path, ..lambda_worker() }
}

fn wrappers() -> &'static [(String, PathBuf)] {
    static WRAPPERS: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    WRAPPERS.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        ["hang", "spin", "overflow"]
            .into_iter()
            .map(|name| {
                let path =
                    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("extract-worker-{name}.sh"));
                let script = format!(
                    "#!/bin/sh\n{TEST_MISBEHAVIOUR_VAR}={name} exec '{}' \"$@\"\n",
                    env!("CARGO_BIN_EXE_ingest")
                );
                std::fs::write(&path, script).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
                (name.to_owned(), path)
            })
            .collect()
    })
}

fn figures(what: &str, run: &WorkerRun) {
    eprintln!(
        "{what}: {:?} in {:.2?} wall, {:.2?} CPU, worker peak RSS {} MiB",
        run.result.as_ref().map(|d| d.text.len()),
        run.elapsed,
        run.cpu,
        run.peak_rss_kib / 1024
    );
}

#[test]
fn a_compression_bomb_is_refused_at_the_memory_limit() {
    let bomb = bomb();
    assert!(bomb.len() < 4096, "{} bytes", bomb.len());
    let run = run(&lambda_worker(), "docs/bomb.pdf", bomb);
    figures("bomb", &run);
    assert_eq!(run.result, Err(ExtractError::NeedsTooMuchMemory { limit_mib: 512 }));
    assert!(run.peak_rss_kib <= 512 * 1024, "the worker peaked at {} KiB", run.peak_rss_kib);
    assert!(
        run.peak_rss_kib > 128 * 1024,
        "the worker never reached for the memory: {} KiB",
        run.peak_rss_kib
    );
}

#[test]
fn a_deeply_nested_pdf_is_refused_and_the_parent_reads_on() {
    let run = run(&lambda_worker(), "docs/nested.pdf", pdf::deeply_nested_pdf(50_000));
    figures("nested", &run);
    // lopdf stops at 100 levels and the page's content fails to parse.
    assert!(matches!(&run.result, Err(ExtractError::MalformedPdf(_))), "{:?}", run.result);

    let good = pdf::sample_pdf(&[&["Still reading"]]);
    let after = self::run(&lambda_worker(), "docs/good.pdf", good);
    assert_eq!(after.result.map(|d| d.title), Ok("Still reading".to_owned()));
}

#[test]
fn a_worker_that_runs_out_of_stack_only_ends_itself() {
    let run = run(&wrapper("overflow"), "docs/nested.pdf", pdf::deeply_nested_pdf(50));
    figures("overflow", &run);
    assert_eq!(run.result, Err(ExtractError::NestedTooDeeply));
}

#[test]
fn a_normal_pdf_reads_exactly_as_in_process() {
    let lines: Vec<Vec<String>> = (1..=10)
        .map(|p| (1..=30).map(|l| format!("Page {p}, line {l}: Rust, Go and measured latency.")).collect())
        .collect();
    let lines: Vec<Vec<&str>> = lines.iter().map(|page| page.iter().map(String::as_str).collect()).collect();
    let pages: Vec<&[&str]> = lines.iter().map(Vec::as_slice).collect();
    let document = pdf::sample_pdf(&pages);
    let in_process = extract("docs/report.pdf", &document, &ExtractLimits::default());
    let isolated = run(&lambda_worker(), "docs/report.pdf", document);
    figures("10-page PDF", &isolated);
    assert!(in_process.as_ref().is_ok_and(|d| d.text.contains("Page 10, line 30")), "{in_process:?}");
    assert_eq!(isolated.result, in_process);

    let markdown = b"# Notes\r\n\r\nPlain \xC3\xA9t\xC3\xA9 text.".to_vec();
    let in_process = extract("docs/notes.md", &markdown, &ExtractLimits::default());
    assert_eq!(run(&lambda_worker(), "docs/notes.md", markdown).result, in_process);
    assert_eq!(
        run(&lambda_worker(), "docs/bad.txt", b"ab\xFFcd".to_vec()).result,
        Err(ExtractError::NotUtf8(2)),
        "a refusal comes back as it was made"
    );
}

#[test]
fn a_hanging_worker_is_killed_at_the_deadline() {
    let isolation = IsolatedExtraction { deadline: Duration::from_secs(2), ..wrapper("hang") };
    // Bigger than a pipe's buffer: the parent's write blocks too, until the kill.
    let document = pdf::sample_pdf(&[&["x"]]).into_iter().chain(std::iter::repeat_n(b' ', 1 << 20)).collect();
    let run = run(&isolation, "docs/slow.pdf", document);
    figures("hang", &run);
    assert_eq!(run.result, Err(ExtractError::TookTooLong { seconds: 2 }));
    assert!(
        run.elapsed >= Duration::from_secs(2) && run.elapsed < Duration::from_secs(5),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn a_worker_past_its_cpu_time_is_stopped() {
    let isolation = IsolatedExtraction { cpu_seconds: 1, ..wrapper("spin") };
    let run = run(&isolation, "docs/busy.pdf", pdf::sample_pdf(&[&["x"]]));
    figures("spin", &run);
    assert_eq!(run.result, Err(ExtractError::UsedTooMuchCpu { seconds: 1 }));
    // The kernel counts CPU time in ticks: the signal can come a tick before a full second.
    assert!(run.cpu >= Duration::from_millis(900) && run.elapsed < Duration::from_secs(20), "{run:?}");
}
