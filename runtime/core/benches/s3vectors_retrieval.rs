//! Retrieval through `S3VectorsIndex` against the emulator at 1,000 and 10,000 chunks of 1024
//! dimensions (Titan v2's size), k = 5. These are the **emulator's** figures: moto with the
//! project's exact-search QueryVectors patch, in Python on this machine, not what AWS answers in.
//! They show what the local target costs with `--vector-store s3vectors`. The last lines repeat
//! the figures as `s3vectors_retrieval key=value…` for scripts/bench.
//!
//! Run: `cargo bench -p chatbot-core --bench s3vectors_retrieval`.

use std::time::{Duration, Instant};

use aws_sdk_s3vectors::Client;
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, MetadataConfiguration};
use chatbot_core::aws::s3vectors::S3VectorsIndex;
use chatbot_core::ports::{IndexedChunk, VectorIndex};
use test_support::moto::Moto;

const DIMENSIONS: usize = 1024;
const CHUNKS_PER_DOCUMENT: usize = 100;
const QUERIES: usize = 20;
const K: usize = 5;

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

    fn unit_vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> =
            (0..DIMENSIONS).map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn index(client: &Client, bucket: &str) -> S3VectorsIndex {
    client.create_vector_bucket().vector_bucket_name(bucket).send().await.expect("bucket");
    for (name, dims, metric, keys) in [
        ("chunks", DIMENSIONS, DistanceMetric::Cosine, vec!["text", "title", "source"]),
        ("manifests", 1, DistanceMetric::Euclidean, vec!["manifest"]),
    ] {
        let mut meta = MetadataConfiguration::builder();
        for k in keys {
            meta = meta.non_filterable_metadata_keys(k);
        }
        client
            .create_index()
            .vector_bucket_name(bucket)
            .index_name(name)
            .data_type(DataType::Float32)
            .dimension(dims as i32)
            .distance_metric(metric)
            .metadata_configuration(meta.build().expect("metadata configuration"))
            .send()
            .await
            .expect("index");
    }
    S3VectorsIndex::new(client.clone(), bucket, "chunks", "manifests", DIMENSIONS).expect("adapter")
}

async fn run(client: &Client, chunks: usize, rng: &mut Rng) {
    let index = index(client, &format!("bench-{chunks}")).await;
    let started = Instant::now();
    for doc in 0..chunks / CHUNKS_PER_DOCUMENT {
        let source = format!("docs/doc-{doc:04}.md");
        let batch: Vec<IndexedChunk> = (0..CHUNKS_PER_DOCUMENT)
            .map(|n| IndexedChunk {
                source: source.clone(),
                chunk: n as u32,
                title: format!("Document {doc}"),
                sha256: format!("{doc:064x}"),
                text: format!("Passage {n} of document {doc}: a short text standing in for a chunk."),
                vector: rng.unit_vector(),
                ingested_at: "2026-01-01T00:00:00Z".to_owned(),
            })
            .collect();
        index.replace_document(&source, &batch).await.expect("replace");
    }
    let fill = started.elapsed();
    let mut latencies: Vec<Duration> = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let query = rng.unit_vector();
        let started = Instant::now();
        let hits = index.search(&query, K).await.expect("search");
        latencies.push(started.elapsed());
        assert_eq!(hits.len(), K);
    }
    latencies.sort();
    let at = |p: f64| ms(latencies[((latencies.len() - 1) as f64 * p).round() as usize]);
    println!(
        "{chunks} chunks: filled in {:.1} s ({:.0} chunks/s); query p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        fill.as_secs_f64(),
        chunks as f64 / fill.as_secs_f64(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
    println!(
        "s3vectors_retrieval chunks={chunks} dims={DIMENSIONS} k={K} queries={QUERIES} fill_s={:.1} \
         query_p50_ms={:.1} query_p95_ms={:.1} query_max_ms={:.1}",
        fill.as_secs_f64(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let sdk = Moto::shared().sdk_config().await;
        let client = Client::new(&sdk);
        let mut rng = Rng(7);
        for chunks in [1_000, 10_000] {
            run(&client, chunks, &mut rng).await;
        }
    });
}
