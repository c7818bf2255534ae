//! The local target's real embedder, all-MiniLM-L6-v2 on candle, on this machine's CPU: model
//! load time (from the installed wheel's model.zip, and from a directory of its files), query
//! embedding latency for a ~20-token query (p50/p99 of 200), and ingestion throughput in chunks
//! per second for 64 chunks of about 200 tokens, embedded in batches. The targets are a load
//! under 1 s and a query p50 under 15 ms. The last line repeats the figures as
//! `minilm_embedding key=value…` for scripts/bench.
//!
//! Run: `cargo bench -p chatbot-core --bench minilm_embedding` (the model from `.venv/`, as
//! scripts/test installs it, or from OPSCTL_EMBEDDING_MODEL).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chatbot_core::local::minilm::{self, MiniLmEmbedder, files};

const LOADS: usize = 5;
const QUERIES: usize = 200;
const CHUNKS: usize = 64;
/// About 20 WordPiece tokens with [CLS] and [SEP].
const QUERY: &str =
    "Which programming languages does Maria list under the skills section of her CV, and for how long?";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median_load(path: &Path) -> Duration {
    let mut times: Vec<Duration> = (0..LOADS)
        .map(|_| {
            let t = Instant::now();
            MiniLmEmbedder::load(path).unwrap_or_else(|e| panic!("{e}"));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[LOADS / 2]
}

/// The four files extracted into a temporary directory, as OPSCTL_EMBEDDING_MODEL may name one.
fn extracted(from: &Path) -> PathBuf {
    let f = files::read(from).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("opsctl-minilm-bench-{}", std::process::id()));
    for (name, bytes) in [
        (files::SAFETENSORS, f.safetensors),
        (files::TOKENIZER, f.tokenizer),
        (files::CONFIG, f.config),
        (files::POOLING, f.pooling),
    ] {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a file in a directory")).expect("temp dir");
        std::fs::write(path, bytes).expect("temp file");
    }
    dir
}

fn chunk(i: usize) -> String {
    // Varied prose, so no two chunks are the same text; ~200 tokens once tokenised.
    let sentence = format!(
        "Section {i}: the maintenance log records that pump {} was serviced on day {} and that \
         the filter was replaced after {} hours of running, with the pressure back to normal. ",
        i % 7,
        i * 3 % 29,
        100 + i * 11
    );
    sentence.repeat(6)
}

fn main() {
    let configured = std::env::var_os(minilm::MODEL_PATH_ENV);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = files::locate(configured.as_deref(), &root).unwrap_or_else(|e| panic!("{e}"));

    let load_zip = median_load(&path);
    let dir = extracted(&path);
    let load_dir = median_load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "load (median of {LOADS}): {:.0} ms from {}, {:.0} ms from a directory",
        ms(load_zip),
        path.display(),
        ms(load_dir)
    );

    let model = MiniLmEmbedder::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let query = vec![QUERY.to_string()];
    let query_tokens = model.token_count(QUERY).expect("tokenise");
    let chunk_tokens = model.token_count(&chunk(1)).expect("tokenise");
    for _ in 0..10 {
        model.embed_blocking(&query).expect("warm-up");
    }
    let mut times: Vec<Duration> = (0..QUERIES)
        .map(|_| {
            let t = Instant::now();
            model.embed_blocking(&query).expect("query");
            t.elapsed()
        })
        .collect();
    times.sort();
    let (p50, p99) = (percentile(&times, 0.50), percentile(&times, 0.99));
    println!("query of {query_tokens} tokens ({QUERIES} runs): p50 {:.2} ms, p99 {:.2} ms", ms(p50), ms(p99));

    let chunks: Vec<String> = (0..CHUNKS).map(chunk).collect();
    model.embed_blocking(&chunks[..minilm::BATCH]).expect("warm-up");
    let t = Instant::now();
    model.embed_blocking(&chunks).expect("chunks");
    let elapsed = t.elapsed();
    let per_second = CHUNKS as f64 / elapsed.as_secs_f64();
    println!(
        "ingestion: {CHUNKS} chunks of {chunk_tokens} tokens (cut at {}) in batches of {} in {:.0} ms: {per_second:.1} chunks/s",
        minilm::MAX_TOKENS,
        minilm::BATCH,
        ms(elapsed)
    );
    println!(
        "minilm_embedding load_zip_ms={:.0} load_dir_ms={:.0} query_p50_ms={:.2} query_p99_ms={:.2} chunks_per_s={per_second:.1}",
        ms(load_zip),
        ms(load_dir),
        ms(p50),
        ms(p99)
    );
}
