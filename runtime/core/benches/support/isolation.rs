//! What reading documents in a worker process costs: a normal 10-page PDF read in-process and
//! in the worker, and the compression bomb refused by the worker's memory limit. The worker is
//! the bench's own executable, whose `main` checks for the worker argument first, as the ingest
//! Lambda's does.

use std::time::{Duration, Instant};

use chatbot_core::domain::extract::{ExtractError, ExtractLimits, extract};
use chatbot_core::extract_worker::{IsolatedExtraction, extract_isolated};

use test_support::pdf;
use test_support::proc_status::status_kib;

const RUNS: usize = 21;

fn ten_page_pdf() -> Vec<u8> {
    let lines: Vec<Vec<String>> = (1..=10)
        .map(|p| (1..=30).map(|l| format!("Page {p}, line {l}: Rust, Go and measured latency.")).collect())
        .collect();
    let lines: Vec<Vec<&str>> = lines.iter().map(|page| page.iter().map(String::as_str).collect()).collect();
    let pages: Vec<&[&str]> = lines.iter().map(Vec::as_slice).collect();
    pdf::sample_pdf(&pages)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints the figures, then one `extract_isolation key=value…` line; false when a document was
/// not read (or refused) as it should be.
pub fn report() -> bool {
    let Ok(isolation) = IsolatedExtraction::this_executable() else {
        eprintln!("extract_isolation: could not find this executable");
        return false;
    };
    let limits = ExtractLimits::default();
    let document = ten_page_pdf();
    let expected = extract("docs/report.pdf", &document, &limits);
    let (mut in_process, mut isolated, mut worker_kib) = (Vec::new(), Vec::new(), Vec::new());
    let mut same = expected.is_ok();
    for _ in 0..RUNS {
        let started = Instant::now();
        same &= extract("docs/report.pdf", &document, &limits) == expected;
        in_process.push(started.elapsed());
        let started = Instant::now();
        let run = extract_isolated(&isolation, "docs/report.pdf", document.clone(), &limits);
        isolated.push(started.elapsed());
        same &= run.as_ref().is_ok_and(|r| r.result == expected);
        worker_kib.push(run.map(|r| r.peak_rss_kib).unwrap_or(0));
    }
    let (in_process, isolated) = (median(in_process), median(isolated));

    let bomb = pdf::compression_bomb_pdf(8, 7 << 20);
    let bomb_bytes = bomb.len();
    let started = Instant::now();
    let refusal = extract_isolated(&isolation, "docs/bomb.pdf", bomb, &limits);
    let bomb_time = started.elapsed();
    let bomb_worker_mib = refusal.as_ref().map(|r| r.peak_rss_kib / 1024).unwrap_or(0);
    let refused =
        refusal.as_ref().is_ok_and(|r| r.result == Err(ExtractError::NeedsTooMuchMemory { limit_mib: 512 }));
    let parent_mib = status_kib("VmHWM:") / 1024;
    let worker_mib = worker_kib.iter().max().copied().unwrap_or(0) as f64 / 1024.0;

    println!("extract_isolation: a 10-page PDF ({} bytes), median of {RUNS}", document.len());
    println!("  in-process:                    {:>8.2} ms", ms(in_process));
    println!(
        "  in a worker process:           {:>8.2} ms (worker peak RSS {worker_mib:.1} MiB)",
        ms(isolated)
    );
    println!("  overhead:                      {:>8.2} ms", ms(isolated.saturating_sub(in_process)));
    println!(
        "  compression bomb ({bomb_bytes} bytes):  refused={refused} in {:.0} ms, worker peak RSS {bomb_worker_mib} MiB, \
         this process's peak RSS {parent_mib} MiB",
        ms(bomb_time)
    );
    println!(
        "extract_isolation pages=10 runs={RUNS} in_process_ms={:.2} isolated_ms={:.2} overhead_ms={:.2} \
         worker_rss_mib={worker_mib:.1} same_text={same} bomb_bytes={bomb_bytes} bomb_refused={refused} \
         bomb_ms={:.0} bomb_worker_rss_mib={bomb_worker_mib} parent_rss_mib={parent_mib}",
        ms(in_process),
        ms(isolated),
        ms(isolated.saturating_sub(in_process)),
        ms(bomb_time)
    );
    same && refused
}
