//! Tests of the SQLite vector index.

use super::*;

fn chunk(source: &str, n: u32, text: &str, vector: Vec<f32>) -> IndexedChunk {
    IndexedChunk {
        source: source.into(),
        chunk: n,
        title: source.into(),
        sha256: format!("sha-{source}"),
        text: text.into(),
        vector,
        ingested_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// The sha256 the index holds for the whole of `source`; `None` when it holds nothing.
async fn whole_sha(index: &SqliteVectorIndex, source: &str) -> Option<String> {
    match index.indexed_version(source).await.unwrap() {
        IndexedVersion::Absent => None,
        IndexedVersion::Whole { sha256, .. } => Some(sha256),
        IndexedVersion::Mixed => panic!("{source} is mixed"),
    }
}

/// A unit vector along axis `i`.
fn axis(dims: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dims];
    v[i] = 1.0;
    v
}

/// A temp directory removed on drop, so a failing test still cleans up.
struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("opsctl-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn round_trip_returns_the_nearest_chunk_first() {
    let index = SqliteVectorIndex::open_in_memory(4).unwrap();
    index.check().await.unwrap();
    assert_eq!(whole_sha(&index, "docs/a.md").await, None);
    let chunks = [chunk("docs/a.md", 0, "alpha", axis(4, 0)), chunk("docs/a.md", 1, "beta", axis(4, 1))];
    index.replace_document("docs/a.md", &chunks).await.unwrap();
    assert_eq!(whole_sha(&index, "docs/a.md").await.as_deref(), Some("sha-docs/a.md"));
    assert_eq!(
        index.indexed_version("docs/a.md").await.unwrap(),
        IndexedVersion::Whole { sha256: "sha-docs/a.md".into(), chunks: 2 }
    );
    // Not a unit vector: cosine must not depend on length.
    let hits = index.search(&[0.0, 3.0, 0.3, 0.0], 5).await.unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!((hits[0].source.as_str(), hits[0].chunk, hits[0].text.as_str()), ("docs/a.md", 1, "beta"));
    assert!((hits[0].score - 3.0 / 9.09f32.sqrt()).abs() < 1e-5, "{}", hits[0].score);
    assert!(hits[1].score.abs() < 1e-6);
    assert!(index.search(&axis(4, 0), 0).await.unwrap().is_empty());
    assert_eq!(index.search(&axis(4, 0), usize::MAX).await.unwrap().len(), 2);
}

#[tokio::test]
async fn replace_drops_the_old_chunks_and_delete_drops_all() {
    let index = SqliteVectorIndex::open_in_memory(4).unwrap();
    let old = [chunk("a", 0, "old 0", axis(4, 0)), chunk("a", 1, "old 1", axis(4, 1))];
    index.replace_document("a", &old).await.unwrap();
    index.replace_document("b", &[chunk("b", 0, "other", axis(4, 2))]).await.unwrap();
    let mut new = chunk("a", 0, "new 0", axis(4, 3));
    new.sha256 = "v2".into();
    index.replace_document("a", &[new]).await.unwrap();
    let texts: Vec<String> =
        index.search(&axis(4, 0), 10).await.unwrap().into_iter().map(|h| h.text).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.contains(&"new 0".to_owned()) && texts.contains(&"other".to_owned()));
    assert_eq!(whole_sha(&index, "a").await.as_deref(), Some("v2"));

    index.delete_document("a").await.unwrap();
    assert_eq!(whole_sha(&index, "a").await, None);
    let hits = index.search(&axis(4, 3), 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.text.as_str()).collect::<Vec<_>>(), ["other"]);
}

#[tokio::test]
async fn a_failed_replace_keeps_the_previous_version() {
    let index = SqliteVectorIndex::open_in_memory(4).unwrap();
    index.replace_document("a", &[chunk("a", 0, "v1", axis(4, 0))]).await.unwrap();
    // Two chunks numbered 0: the insert fails mid-transaction, after the delete ran.
    let bad = [chunk("a", 0, "v2", axis(4, 1)), chunk("a", 0, "v2 again", axis(4, 2))];
    assert!(index.replace_document("a", &bad).await.is_err());
    let hits = index.search(&axis(4, 0), 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.text.as_str()).collect::<Vec<_>>(), ["v1"]);
    let err = index.replace_document("a", &[chunk("b", 0, "x", axis(4, 0))]).await.unwrap_err();
    assert!(err.to_string().contains("belongs to `b`"), "{err}");
}

#[tokio::test]
async fn the_index_persists_across_reopen_in_wal_mode() {
    let dir = TempDir::new("sqlite-index-reopen");
    let path = dir.0.join("index.sqlite");
    {
        let index = SqliteVectorIndex::open(&path, 4).unwrap();
        index.replace_document("a", &[chunk("a", 0, "kept", axis(4, 2))]).await.unwrap();
        index.replace_document("b", &[chunk("b", 0, "gone", axis(4, 1))]).await.unwrap();
        index.delete_document("b").await.unwrap();
    }
    let index = SqliteVectorIndex::open(&path, 4).unwrap();
    let hits = index.search(&axis(4, 2), 5).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.text.as_str()).collect::<Vec<_>>(), ["kept"]);
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    assert_eq!(whole_sha(&index, "a").await.as_deref(), Some("sha-a"));
    let mode: String =
        Connection::open(&path).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn dimension_mismatches_are_clear_errors() {
    let dir = TempDir::new("sqlite-index-dims");
    let path = dir.0.join("index.sqlite");
    drop(SqliteVectorIndex::open(&path, 4).unwrap());
    let err = SqliteVectorIndex::open(&path, 8).err().unwrap();
    assert!(err.to_string().contains("holds 4-dimension vectors but 8"), "{err}");

    let index = SqliteVectorIndex::open(&path, 4).unwrap();
    let err = index.search(&[1.0, 0.0], 3).await.unwrap_err();
    assert!(err.to_string().contains("query vector has 2 dimensions"), "{err}");
    let err = index.replace_document("a", &[chunk("a", 0, "x", vec![1.0; 5])]).await.unwrap_err();
    assert!(err.to_string().contains("has 5 dimensions"), "{err}");
    assert!(index.search(&[f32::NAN, 0.0, 0.0, 0.0], 3).await.is_err());
    assert!(SqliteVectorIndex::open_in_memory(0).is_err());
}

#[tokio::test]
async fn zero_vectors_score_zero_not_nan() {
    let index = SqliteVectorIndex::open_in_memory(4).unwrap();
    let chunks = [chunk("a", 0, "empty", vec![0.0; 4]), chunk("a", 1, "x", axis(4, 0))];
    index.replace_document("a", &chunks).await.unwrap();
    let hits = index.search(&axis(4, 0), 5).await.unwrap();
    assert_eq!((hits[0].text.as_str(), hits[1].text.as_str()), ("x", "empty"));
    assert_eq!(hits[1].score, 0.0);
    let hits = index.search(&[0.0; 4], 5).await.unwrap();
    assert!(hits.iter().all(|h| h.score == 0.0), "{hits:?}");
}

#[tokio::test]
async fn ranking_matches_a_brute_force_sort() {
    let dims = 19; // not a multiple of 8: exercises the tail of `dot`
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let index = SqliteVectorIndex::open_in_memory(dims).unwrap();
    let mut all = Vec::new();
    for doc in 0..7 {
        let source = format!("docs/{doc}.md");
        let chunks: Vec<IndexedChunk> = (0..60)
            .map(|n| chunk(&source, n, &format!("{doc}/{n}"), (0..dims).map(|_| random()).collect()))
            .collect();
        index.replace_document(&source, &chunks).await.unwrap();
        all.extend(chunks);
    }
    let cosine = |a: &[f32], b: &[f32]| {
        let d =
            |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();
        d(a, b) / (d(a, a).sqrt() * d(b, b).sqrt())
    };
    for _ in 0..20 {
        let query: Vec<f32> = (0..dims).map(|_| random()).collect();
        let mut expected: Vec<(f64, &str)> =
            all.iter().map(|c| (cosine(&query, &c.vector), c.text.as_str())).collect();
        expected.sort_by(|a, b| b.0.total_cmp(&a.0));
        let hits = index.search(&query, 10).await.unwrap();
        assert_eq!(hits.len(), 10);
        for (hit, (score, text)) in hits.iter().zip(&expected) {
            assert_eq!(&hit.text, text);
            assert!((f64::from(hit.score) - score).abs() < 1e-4);
        }
    }
}

#[tokio::test]
async fn hybrid_search_finds_by_keyword_what_the_vector_ranks_low_and_keeps_cosines() {
    let index = SqliteVectorIndex::open_in_memory(4).unwrap();
    // The query vector points along axis 0. The sourdough chunk is far from it in vector terms
    // and is only found through its words.
    index.replace_document("a.md", &[chunk("a.md", 0, "Tomatoes need sun.", axis(4, 0))]).await.unwrap();
    index.replace_document("b.md", &[chunk("b.md", 0, "Basil likes water.", axis(4, 1))]).await.unwrap();
    index
        .replace_document("c.md", &[chunk("c.md", 0, "Add 12 grams of salt to the sourdough.", axis(4, 2))])
        .await
        .unwrap();
    let vector_only = index.search(&axis(4, 0), 1).await.unwrap();
    assert_eq!(vector_only[0].source, "a.md");
    let hits = index.hybrid_search("How much salt goes into the sourdough?", &axis(4, 0), 3).await.unwrap();
    let c = hits.iter().find(|h| h.source == "c.md").expect("the keyword match is among the hits");
    assert_eq!(c.score, 0.0, "the score stays the cosine");
    assert_eq!(hits[0].source, "c.md", "in both rankings beats first in one: {hits:?}");
    // Deleting a document takes it out of the keyword index too.
    index.delete_document("c.md").await.unwrap();
    let hits = index.hybrid_search("sourdough salt", &axis(4, 3), 3).await.unwrap();
    assert!(hits.iter().all(|h| h.source != "c.md"), "{hits:?}");
}

#[tokio::test]
async fn an_index_file_from_before_the_keyword_index_is_filled_in_at_open() {
    let dir = TempDir::new("fts-migration");
    let path = dir.0.join("vectors.sqlite");
    {
        let index = SqliteVectorIndex::open(&path, 4).unwrap();
        index.replace_document("c.md", &[chunk("c.md", 0, "Salt the sourdough.", axis(4, 2))]).await.unwrap();
    }
    // What an older opsctl left: no keyword index at all.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE chunks_fts; DELETE FROM meta WHERE key = 'keyword_index';").unwrap();
    drop(conn);
    let index = SqliteVectorIndex::open(&path, 4).unwrap();
    let hits = index.hybrid_search("sourdough", &axis(4, 0), 2).await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].source, "c.md");
}
