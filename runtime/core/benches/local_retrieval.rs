//! The local target's vector index at full size: 100,000 chunks of 1024 dimensions (Titan v2's
//! size) in 1,000 documents, on a temporary file. Prints the insert time, search latency
//! (k = 5), reopen time, file sizes and memory. It also times a scan of the stored BLOBs, the
//! design that `SqliteVectorIndex` rejected in favour of its in-memory mirror, and the hybrid
//! search retrieval calls (the cosine scan fused with FTS5's BM25 ranking of the question's
//! words): each chunk's text holds 20 words of a 20,000-word vocabulary, and a query names 6, so
//! each query word matches about 100 chunks; a second figure adds a word every chunk holds
//! ("passage"), the keyword search's worst case. The last line
//! repeats the figures as `local_retrieval key=value…` for scripts/bench.
//!
//! Run: `cargo bench -p chatbot-core --bench local_retrieval`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use chatbot_core::ports::{IndexedChunk, VectorIndex};
use tokio::runtime::Runtime;

use test_support::proc_status::status_kib;

const DOCUMENTS: usize = 1_000;
const CHUNKS_PER_DOCUMENT: usize = 100;
const DIMENSIONS: usize = 1024;
const SEARCHES: usize = 200;
const BLOB_SCANS: usize = 5;
const K: usize = 5;
const VOCABULARY: u64 = 20_000;
const WORDS_PER_CHUNK: usize = 20;
const WORDS_PER_QUERY: usize = 6;

/// SplitMix64: seeded and dependency-free, so every run indexes the same vectors.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random direction: uniform coordinates in [-1, 1), scaled to unit length.
    fn unit_vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> =
            (0..DIMENSIONS).map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    /// `n` words of the synthetic vocabulary, which the FTS5 tokenizer keeps whole.
    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| format!("w{:05}", self.next_u64() % VOCABULARY)).collect::<Vec<_>>().join(" ")
    }
}

/// Removes the directory even if the bench fails halfway.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn memory(label: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or("n/a".to_owned(), |l| l[name.len()..].trim().to_owned())
    };
    println!("memory {label:<22} VmRSS {:>12}   VmHWM {:>12}", field("VmRSS:"), field("VmHWM:"));
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt: Runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let dir =
        TempDir(std::env::temp_dir().join(format!("opsctl-bench-local-retrieval-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let path = dir.0.join("index.sqlite");
    let mut rng = Rng(42);
    println!(
        "local retrieval: {} chunks x {DIMENSIONS} dims in {DOCUMENTS} documents, k = {K}",
        DOCUMENTS * CHUNKS_PER_DOCUMENT
    );
    memory("at start");

    let index = SqliteVectorIndex::open(&path, DIMENSIONS).expect("open");
    let mut probe = None; // one stored vector, to check that search finds it first
    let mut spent = Duration::ZERO;
    for doc in 0..DOCUMENTS {
        let source = format!("docs/doc-{doc:04}.md");
        let chunks: Vec<IndexedChunk> = (0..CHUNKS_PER_DOCUMENT)
            .map(|n| IndexedChunk {
                source: source.clone(),
                chunk: n as u32,
                title: format!("Document {doc}"),
                sha256: format!("{doc:064x}"),
                text: format!("Passage {n} of document {doc}: {}.", rng.words(WORDS_PER_CHUNK)),
                vector: rng.unit_vector(),
                ingested_at: "2026-01-01T00:00:00Z".to_owned(),
            })
            .collect();
        if doc == DOCUMENTS / 2 {
            probe = Some((chunks[7].vector.clone(), chunks[7].text.clone()));
        }
        let started = Instant::now();
        rt.block_on(index.replace_document(&source, &chunks)).expect("replace");
        spent += started.elapsed();
    }
    println!(
        "insert: {:.2} s total, {:.1} ms per 100-chunk document, {:.0} chunks/s",
        spent.as_secs_f64(),
        ms(spent) / DOCUMENTS as f64,
        (DOCUMENTS * CHUNKS_PER_DOCUMENT) as f64 / spent.as_secs_f64()
    );
    memory("after insert");

    let (probe_vector, probe_text) = probe.expect("probe");
    let hits = rt.block_on(index.search(&probe_vector, K)).expect("search");
    assert_eq!(hits[0].text, probe_text, "a stored vector must find itself first");
    assert!((hits[0].score - 1.0).abs() < 1e-4, "self-similarity {}", hits[0].score);

    let mut latencies: Vec<Duration> = (0..SEARCHES)
        .map(|_| {
            let query = rng.unit_vector();
            let started = Instant::now();
            let hits = rt.block_on(index.search(&query, K)).expect("search");
            let elapsed = started.elapsed();
            assert_eq!(hits.len(), K);
            elapsed
        })
        .collect();
    latencies.sort();
    println!(
        "search ({SEARCHES} queries): p50 {:.2} ms   p95 {:.2} ms   max {:.2} ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(latencies[latencies.len() - 1])
    );
    let mut hybrid = |common: bool| {
        let mut latencies: Vec<Duration> = (0..SEARCHES)
            .map(|_| {
                let query = rng.unit_vector();
                let mut question = rng.words(WORDS_PER_QUERY);
                if common {
                    question.push_str(" passage");
                }
                let started = Instant::now();
                let hits = rt.block_on(index.hybrid_search(&question, &query, K)).expect("hybrid search");
                let elapsed = started.elapsed();
                assert_eq!(hits.len(), K);
                elapsed
            })
            .collect();
        latencies.sort();
        latencies
    };
    let selective = hybrid(false);
    let common = hybrid(true);
    println!(
        "hybrid search ({SEARCHES} queries of {WORDS_PER_QUERY} words): p50 {:.2} ms   p95 {:.2} ms; \
         with a word in every chunk: p50 {:.2} ms   p95 {:.2} ms",
        ms(percentile(&selective, 0.50)),
        ms(percentile(&selective, 0.95)),
        ms(percentile(&common, 0.50)),
        ms(percentile(&common, 0.95)),
    );
    memory("after searches");
    let rss_after_searches = status_kib("VmRSS:");
    drop(index);

    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let (db_mb, wal_mb) = (size_mb(&path), size_mb(&wal));
    println!("files: database {db_mb:.1} MB, WAL {wal_mb:.1} MB");

    let started = Instant::now();
    let index = SqliteVectorIndex::open(&path, DIMENSIONS).expect("reopen");
    let reopen = started.elapsed();
    println!("reopen (loads the in-memory mirror): {:.2} s", reopen.as_secs_f64());
    let hits = rt.block_on(index.search(&probe_vector, K)).expect("search after reopen");
    assert_eq!(hits[0].text, probe_text, "the reopened index must answer the same");
    memory("after reopen");
    drop(index);

    // The alternative design: read and decode every BLOB on each query.
    let conn = rusqlite::Connection::open(&path).expect("open for blob scan");
    let mut scans: Vec<Duration> = (0..BLOB_SCANS)
        .map(|_| {
            let query = rng.unit_vector();
            let started = Instant::now();
            let mut stmt = conn.prepare("SELECT id, vector FROM chunks").expect("prepare");
            let mut rows = stmt.query([]).expect("query");
            let mut best = (f32::MIN, 0i64);
            while let Some(row) = rows.next().expect("row") {
                let blob = row.get_ref(1).expect("vector").as_blob().expect("blob");
                let score: f32 = blob
                    .chunks_exact(4)
                    .zip(&query)
                    .map(|(b, q)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * q)
                    .sum();
                if score > best.0 {
                    best = (score, row.get(0).expect("id"));
                }
            }
            std::hint::black_box(best);
            started.elapsed()
        })
        .collect();
    scans.sort();
    println!(
        "blob scan, the rejected design ({BLOB_SCANS} queries): p50 {:.2} ms   max {:.2} ms",
        ms(percentile(&scans, 0.50)),
        ms(scans[scans.len() - 1])
    );
    memory("at end");
    // One key=value line for scripts/bench, which builds BENCHMARKS.md from it.
    println!(
        "local_retrieval chunks={} dims={DIMENSIONS} k={K} searches={SEARCHES} insert_s={:.2} \
         insert_chunks_per_s={:.0} search_p50_ms={:.2} search_p95_ms={:.2} search_max_ms={:.2} \
         db_mb={db_mb:.1} wal_mb={wal_mb:.1} reopen_s={:.2} rss_after_searches_kib={rss_after_searches} \
         vm_hwm_kib={} blob_scan_p50_ms={:.2} hybrid_p50_ms={:.2} hybrid_p95_ms={:.2} \
         hybrid_common_p50_ms={:.2} hybrid_common_p95_ms={:.2}",
        DOCUMENTS * CHUNKS_PER_DOCUMENT,
        spent.as_secs_f64(),
        (DOCUMENTS * CHUNKS_PER_DOCUMENT) as f64 / spent.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(latencies[latencies.len() - 1]),
        reopen.as_secs_f64(),
        status_kib("VmHWM:"),
        ms(percentile(&scans, 0.50)),
        ms(percentile(&selective, 0.50)),
        ms(percentile(&selective, 0.95)),
        ms(percentile(&common, 0.50)),
        ms(percentile(&common, 0.95)),
    );
}
