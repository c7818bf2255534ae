//! Ingestion throughput when the embedder is the bottleneck, as Bedrock is: every embedding call
//! sleeps 50 ms. A 100-chunk Markdown document at concurrency 8 should take no more than
//! 1.5 x (100 x 50 ms / 8) = 937.5 ms, plus the time to extract and chunk it (measured apart).
//!
//! Then what reading a PDF in the extraction worker costs over reading it in-process, and the
//! compression bomb refused there (support/isolation.rs).
//!
//! Prints its figures, then the same as `ingest_throughput key=value…` and
//! `extract_isolation key=value…` lines for scripts/bench; run with
//! `cargo bench -p chatbot-core --bench ingest_throughput`.

mod support;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatbot_core::domain::chunking::chunk_text;
use chatbot_core::domain::extract::{ExtractLimits, extract};
use chatbot_core::fakes::{InMemoryDocuments, InMemoryVectorIndex, RecordingMetrics};
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, Outcome, ingest_document};
use chatbot_core::local::hashing::HashingEmbedder;
use chatbot_core::ports::{Embedder, RagError};

const CALL_LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 8;
const TARGET_CHUNKS: usize = 100;
const RUNS: usize = 5;

struct SleepingEmbedder {
    inner: HashingEmbedder,
    calls: AtomicUsize,
}

#[async_trait]
impl Embedder for SleepingEmbedder {
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RagError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(CALL_LATENCY).await;
        self.inner.embed(texts).await
    }
}

/// A Markdown document of `sections` sections that each chunk on their own.
fn document(sections: usize) -> String {
    let mut md = String::from("# Engineering log\n\n");
    for s in 0..sections {
        md.push_str(&format!("## Entry {s}\n\n"));
        for p in 0..5 {
            md.push_str(&format!(
                "Entry {s}, note {p}: migrated the service to Rust, measured p99 latency before and \
                 after, and wrote down what the profiler showed about allocation and locking.\n\n"
            ));
        }
    }
    md
}

/// The smallest document that chunks into exactly `TARGET_CHUNKS` chunks.
fn hundred_chunk_document() -> String {
    let mut sections = TARGET_CHUNKS / 2;
    loop {
        let doc = document(sections);
        let n = chunk_text(chatbot_core::domain::extract::DocumentKind::Markdown, &doc).len();
        if n >= TARGET_CHUNKS {
            return doc;
        }
        sections += 1;
    }
}

fn main() -> ExitCode {
    // The isolation figures start this executable as the extraction worker.
    if chatbot_core::extract_worker::requested() {
        return chatbot_core::extract_worker::run();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let Ok(runtime) = runtime else {
        eprintln!("could not start a tokio runtime");
        std::process::exit(1);
    };
    let doc = hundred_chunk_document();
    let limits = ExtractLimits::default();

    let started = Instant::now();
    let chunks = extract("docs/log.md", doc.as_bytes(), &limits)
        .map(|e| chunk_text(e.kind, &e.text).len())
        .unwrap_or_default();
    let extraction = started.elapsed();
    assert_eq!(chunks, TARGET_CHUNKS, "the sample must make exactly {TARGET_CHUNKS} chunks");

    let ideal = CALL_LATENCY * TARGET_CHUNKS as u32 / CONCURRENCY as u32;
    let bound = ideal.mul_f64(1.5) + extraction;
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..RUNS {
        let docs = Arc::new(InMemoryDocuments::default());
        docs.put("docs/log.md", doc.as_bytes());
        let embedder =
            Arc::new(SleepingEmbedder { inner: HashingEmbedder::new(1024), calls: AtomicUsize::new(0) });
        let app = IngestApp {
            documents: docs,
            embedder: embedder.clone(),
            index: Arc::new(InMemoryVectorIndex::default()),
            metrics: Arc::new(RecordingMetrics::default()),
            settings: IngestSettings { concurrency: CONCURRENCY, ..IngestSettings::default() },
            statuses: None,
        };
        let started = Instant::now();
        let outcome = runtime.block_on(ingest_document(&app, "docs/log.md"));
        let elapsed = started.elapsed();
        assert!(matches!(outcome, Ok(Outcome::Indexed { chunks: TARGET_CHUNKS })), "run {run}: {outcome:?}");
        assert_eq!(embedder.calls.load(Ordering::Relaxed), TARGET_CHUNKS);
        times.push(elapsed);
    }
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "ingest_throughput: {TARGET_CHUNKS} chunks, {}ms per embedding call, concurrency {CONCURRENCY}",
        CALL_LATENCY.as_millis()
    );
    println!("  extraction + chunking (once):  {:>8.1} ms", ms(extraction));
    println!("  ideal (100 x 50 ms / 8):       {:>8.1} ms", ms(ideal));
    println!("  bound (1.5 x ideal + extract): {:>8.1} ms", ms(bound));
    println!(
        "  ingest, median of {RUNS}:         {:>8.1} ms (min {:.1}, max {:.1})",
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    println!("  {}", if median <= bound { "PASS: within the bound" } else { "FAIL: over the bound" });
    // One key=value line for scripts/bench, which builds BENCHMARKS.md from it.
    println!(
        "ingest_throughput chunks={TARGET_CHUNKS} call_ms={} concurrency={CONCURRENCY} runs={RUNS} \
         extraction_ms={:.1} ideal_ms={:.1} bound_ms={:.1} median_ms={:.1} min_ms={:.1} max_ms={:.1} \
         chunks_per_s={:.1} pass={}",
        CALL_LATENCY.as_millis(),
        ms(extraction),
        ms(ideal),
        ms(bound),
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1]),
        TARGET_CHUNKS as f64 / median.as_secs_f64(),
        median <= bound
    );
    let isolation_ok = support::isolation::report();
    if median > bound || !isolation_ok { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
