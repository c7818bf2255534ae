//! An embedded, persistent [`VectorIndex`] for the local target and the tests. It is a development
//! double that is never deployed: on AWS the index is OpenSearch Serverless, and this one exists so
//! the local target runs on one machine without it.
//!
//! Storage is one SQLite file in WAL mode. `chunks` holds a row per chunk, with its vector as a
//! BLOB of little-endian f32. `meta` records the dimension, and opening the file with another
//! dimension fails, so vectors of two embedders never mix. `replace_document` is one transaction:
//! a crash leaves the old or the new version of a document, never half of each, so the order of
//! its delete and inserts does not matter here as it does for the remote indexes. We use
//! `synchronous=NORMAL`, which in WAL mode keeps every commit atomic. A power cut can lose
//! only the last commits, and re-ingesting the document repairs that.
//!
//! Search is an exact cosine scan. The vectors are mirrored in memory, L2-normalised, in one
//! contiguous block per document. The mirror is loaded at open and updated after each commit.
//! A query scans the mirror into a k-sized heap, then reads only the k winning texts from SQLite.
//! Scanning the BLOBs instead means reading and decoding every row on every query. The
//! `local_retrieval` benchmark measures both at 100k × 1024. Over two runs the mirror's p50 was
//! 22–24 ms, against about 250 ms for the BLOBs. The mirror costs 4 bytes × dimensions of RAM
//! per chunk (400 MB at that size), and reloading it takes 0.5 s at open. The scan runs on one
//! thread. It already reads memory at 17–19 GB/s, so more threads on a small machine would
//! gain little and take the cores the local server needs.
//!
//! `hybrid_search`, what retrieval calls, also asks the FTS5 table `chunks_fts` (the chunks'
//! title and text, porter-stemmed) for its BM25 ranking of the question's words and merges the
//! two rankings by reciprocal rank fusion (`local::hybrid`). It is kept in the same transaction as
//! `chunks`, and an index file from before it is filled in at open.
//!
//! SQLite calls block, so every call runs on tokio's blocking pool. Lock order is `mirror`,
//! then `conn`. A writer holds both until the mirror matches the commit, so a search never
//! picks a row whose text is gone.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::hybrid::{self, Scored};
use crate::domain::prompt::RetrievedChunk;
use crate::ports::{IndexedChunk, IndexedVersion, RagError, VectorIndex};

// An explicit INTEGER PRIMARY KEY keeps ids stable even if the file is vacuumed; the unique
// index serves the by-source lookups and rejects a document with two chunks of one number.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, chunk INTEGER NOT NULL, title TEXT NOT NULL,
    sha256 TEXT NOT NULL, ingested_at TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_source ON chunks (source, chunk);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, text, tokenize = 'porter unicode61');";

/// Set once `chunks_fts` holds every row of `chunks`: files from before the keyword index are
/// filled in when first opened.
const KEYWORD_INDEX_KEY: &str = "keyword_index";

pub struct SqliteVectorIndex {
    shared: Arc<Shared>,
}

struct Shared {
    dimensions: usize,
    mirror: RwLock<BTreeMap<String, Block>>,
    conn: Mutex<Connection>,
}

/// The chunks of one document: row ids, and their unit vectors end to end.
#[derive(Default)]
struct Block {
    ids: Vec<i64>,
    vectors: Vec<f32>,
}

impl SqliteVectorIndex {
    /// Opens or creates the index file at `path` for vectors of `dimensions`.
    pub fn open(path: &Path, dimensions: usize) -> Result<Self, RagError> {
        owner_only(path).map_err(|e| {
            RagError::Failed(format!("cannot make the local vector index {} owner-only: {e}", path.display()))
        })?;
        let conn = Connection::open(path).map_err(|e| {
            RagError::Failed(format!("cannot open the local vector index {}: {e}", path.display()))
        })?;
        Self::with_connection(conn, dimensions)
    }

    /// A throwaway index, for tests.
    pub fn open_in_memory(dimensions: usize) -> Result<Self, RagError> {
        Self::with_connection(Connection::open_in_memory().map_err(sql)?, dimensions)
    }

    fn with_connection(mut conn: Connection, dimensions: usize) -> Result<Self, RagError> {
        if dimensions == 0 {
            return Err(RagError::Failed("the local vector index needs at least one dimension".into()));
        }
        // Another process (a second `opsctl`) may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        // The pragma answers with the mode it settled on; in-memory databases stay in "memory".
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        ensure_schema(&mut conn, dimensions)?;
        let mirror = load_mirror(&conn, dimensions)?;
        Ok(Self {
            shared: Arc::new(Shared { dimensions, mirror: RwLock::new(mirror), conn: Mutex::new(conn) }),
        })
    }

    pub fn dimensions(&self) -> usize {
        self.shared.dimensions
    }

    /// Runs `f` on the blocking pool, so neither SQLite nor a scan stalls the async workers.
    async fn blocking<T, F>(&self, f: F) -> Result<T, RagError>
    where
        T: Send + 'static,
        F: FnOnce(&Shared) -> Result<T, RagError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || f(&shared))
            .await
            .map_err(|e| RagError::Failed(format!("a local vector index task failed: {e}")))?
    }

    /// A query vector checked and made unit length; `None` when no hit is asked for.
    fn unit_query(&self, vector: &[f32], k: usize) -> Result<Option<Vec<f32>>, RagError> {
        self.check_vector("the query vector", vector)?;
        if k == 0 {
            return Ok(None);
        }
        let mut unit = vector.to_vec();
        normalize(&mut unit);
        Ok(Some(unit))
    }

    fn check_vector(&self, what: &str, vector: &[f32]) -> Result<(), RagError> {
        let dims = self.shared.dimensions;
        if vector.len() != dims {
            return Err(RagError::Failed(format!(
                "{what} has {} dimensions but the local vector index holds {dims}-dimension vectors",
                vector.len()
            )));
        }
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(RagError::Failed(format!("{what} contains a value that is not a finite number")));
        }
        Ok(())
    }
}

impl Shared {
    /// Replaces the rows of `source` with `chunks` (none: a delete) in one transaction, then the
    /// mirror's block, both under the locks.
    fn write(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError> {
        let dims = self.dimensions;
        let mut mirror = self.mirror.write().map_err(|_| poisoned())?;
        let mut conn = self.conn.lock().map_err(|_| poisoned())?;
        let tx = conn.transaction().map_err(sql)?;
        tx.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE source = ?1)",
            [source],
        )
        .map_err(sql)?;
        tx.execute("DELETE FROM chunks WHERE source = ?1", [source]).map_err(sql)?;
        let mut block =
            Block { ids: Vec::with_capacity(chunks.len()), vectors: Vec::with_capacity(chunks.len() * dims) };
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO chunks (source, chunk, title, sha256, ingested_at, text, vector) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(sql)?;
            let mut keywords =
                tx.prepare("INSERT INTO chunks_fts (rowid, title, text) VALUES (?1, ?2, ?3)").map_err(sql)?;
            let mut blob = Vec::with_capacity(dims * 4);
            for c in chunks {
                blob.clear();
                blob.extend(c.vector.iter().flat_map(|x| x.to_le_bytes()));
                insert
                    .execute(params![c.source, c.chunk, c.title, c.sha256, c.ingested_at, c.text, blob])
                    .map_err(sql)?;
                let id = tx.last_insert_rowid();
                keywords.execute(params![id, c.title, c.text]).map_err(sql)?;
                block.ids.push(id);
                let start = block.vectors.len();
                block.vectors.extend_from_slice(&c.vector);
                normalize(&mut block.vectors[start..]);
            }
        }
        tx.commit().map_err(sql)?;
        if block.ids.is_empty() {
            mirror.remove(source);
        } else {
            mirror.insert(source.to_owned(), block);
        }
        Ok(())
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        let mirror = self.mirror.read().map_err(|_| poisoned())?;
        let hits = top_k(&mirror, query, k, self.dimensions);
        read_hits(&*lock(&self.conn)?, hits.iter().map(|h| (h.id, h.score)))
    }

    /// The cosine ranking and FTS5's BM25 ranking of `question`, fused (see [`hybrid`]).
    fn hybrid_search(
        &self,
        question: &str,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<RetrievedChunk>, RagError> {
        let dims = self.dimensions;
        let mirror = self.mirror.read().map_err(|_| poisoned())?;
        let candidates = k.saturating_mul(4).max(hybrid::MIN_CANDIDATES);
        let by_vector: Vec<Scored> = top_k(&mirror, query, candidates, dims)
            .iter()
            .map(|h| Scored { id: h.id, cosine: h.score })
            .collect();
        let conn = lock(&self.conn)?;
        let by_keyword: Vec<(i64, String)> = match hybrid::fts_query(question) {
            None => Vec::new(),
            Some(fts) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT chunks.id, chunks.source FROM chunks_fts JOIN chunks ON chunks.id = chunks_fts.rowid \
                         WHERE chunks_fts MATCH ?1 ORDER BY bm25(chunks_fts) LIMIT ?2",
                    )
                    .map_err(sql)?;
                let rows = stmt
                    .query_map(params![fts, i64::try_from(candidates).unwrap_or(i64::MAX)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)?
            }
        };
        let sources: HashMap<i64, &str> = by_keyword.iter().map(|(id, s)| (*id, s.as_str())).collect();
        let ids: Vec<i64> = by_keyword.iter().map(|(id, _)| *id).collect();
        let fused = hybrid::fuse(&by_vector, &ids, k, |id| {
            let block = mirror.get(*sources.get(&id)?)?;
            let at = block.ids.iter().position(|x| *x == id)?;
            Some(dot(query, &block.vectors[at * dims..(at + 1) * dims]))
        });
        read_hits(&conn, fused.iter().map(|h| (h.id, h.cosine)))
    }
}

/// The rows of `hits` (id, score), in that order, with their text.
fn read_hits(
    conn: &Connection,
    hits: impl Iterator<Item = (i64, f32)>,
) -> Result<Vec<RetrievedChunk>, RagError> {
    let mut stmt = conn.prepare("SELECT source, chunk, text FROM chunks WHERE id = ?1").map_err(sql)?;
    hits.map(|(id, score)| {
        stmt.query_row([id], |r| {
            Ok(RetrievedChunk { source: r.get(0)?, chunk: r.get(1)?, score, text: r.get(2)? })
        })
        .map_err(sql)
    })
    .collect()
}

#[async_trait]
impl VectorIndex for SqliteVectorIndex {
    async fn check(&self) -> Result<(), RagError> {
        self.blocking(|s| ensure_schema(&mut *lock(&s.conn)?, s.dimensions)).await
    }

    async fn indexed_version(&self, source: &str) -> Result<IndexedVersion, RagError> {
        let source = source.to_owned();
        self.blocking(move |s| {
            let conn = lock(&s.conn)?;
            let mut stmt = conn
                .prepare(
                    "SELECT sha256, COUNT(*) FROM chunks WHERE source = ?1 \
                     GROUP BY sha256, ingested_at LIMIT 2",
                )
                .map_err(sql)?;
            let versions: Vec<(String, i64)> = stmt
                .query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            Ok(match versions.as_slice() {
                [] => IndexedVersion::Absent,
                [(sha256, chunks)] => IndexedVersion::Whole {
                    sha256: sha256.clone(),
                    chunks: usize::try_from(*chunks).unwrap_or(usize::MAX),
                },
                _ => IndexedVersion::Mixed,
            })
        })
        .await
    }

    async fn replace_document(&self, source: &str, chunks: &[IndexedChunk]) -> Result<(), RagError> {
        for c in chunks {
            if c.source != source {
                return Err(RagError::Failed(format!(
                    "chunk {} belongs to `{}`, not to `{source}`",
                    c.chunk, c.source
                )));
            }
            self.check_vector(&format!("the vector of `{source}` chunk {}", c.chunk), &c.vector)?;
        }
        let (source, chunks) = (source.to_owned(), chunks.to_vec());
        self.blocking(move |s| s.write(&source, &chunks)).await
    }

    async fn delete_document(&self, source: &str) -> Result<(), RagError> {
        let source = source.to_owned();
        self.blocking(move |s| s.write(&source, &[])).await
    }

    async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<RetrievedChunk>, RagError> {
        let Some(unit) = self.unit_query(vector, k)? else { return Ok(Vec::new()) };
        self.blocking(move |s| s.search(&unit, k)).await
    }

    async fn hybrid_search(
        &self,
        query: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<RetrievedChunk>, RagError> {
        let Some(unit) = self.unit_query(vector, k)? else { return Ok(Vec::new()) };
        let question = query.to_owned();
        self.blocking(move |s| s.hybrid_search(&question, &unit, k)).await
    }
}

/// The index holds the documents' text: its file is created owner-only (0600) before SQLite opens
/// it, and SQLite gives its `-wal` and `-shm` files the database file's mode. Files an older
/// version left readable are tightened.
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Creates the tables if missing and records the dimension, or refuses a file made for another.
fn ensure_schema(conn: &mut Connection, dimensions: usize) -> Result<(), RagError> {
    let tx = conn.transaction().map_err(sql)?;
    tx.execute_batch(SCHEMA).map_err(sql)?;
    let stored: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'dimensions'", [], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    match stored {
        None => {
            tx.execute("INSERT INTO meta (key, value) VALUES ('dimensions', ?1)", [dimensions.to_string()])
                .map_err(sql)?;
        }
        Some(v) if v == dimensions.to_string() => {}
        Some(v) => {
            return Err(RagError::Failed(format!(
                "the local vector index holds {v}-dimension vectors but {dimensions} were asked for: \
                 use the embedder it was built with, or delete the index file to rebuild it"
            )));
        }
    }
    let filled: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [KEYWORD_INDEX_KEY], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    if filled.is_none() {
        tx.execute_batch(
            "DELETE FROM chunks_fts; INSERT INTO chunks_fts (rowid, title, text) SELECT id, title, text FROM chunks;",
        )
        .map_err(sql)?;
        tx.execute("INSERT INTO meta (key, value) VALUES (?1, '1')", [KEYWORD_INDEX_KEY]).map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

fn load_mirror(conn: &Connection, dims: usize) -> Result<BTreeMap<String, Block>, RagError> {
    let mut stmt =
        conn.prepare("SELECT id, source, vector FROM chunks ORDER BY source, chunk").map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut mirror: BTreeMap<String, Block> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(sql)? {
        let id: i64 = row.get(0).map_err(sql)?;
        let source: String = row.get(1).map_err(sql)?;
        let blob = row.get_ref(2).map_err(sql)?.as_blob().map_err(|e| RagError::Failed(e.to_string()))?;
        if blob.len() != dims * 4 {
            return Err(RagError::Failed(format!(
                "chunk row {id} of `{source}` holds a vector of {} bytes, not {}: the index file is corrupt",
                blob.len(),
                dims * 4
            )));
        }
        let block = mirror.entry(source).or_default();
        block.ids.push(id);
        let start = block.vectors.len();
        block.vectors.extend(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        normalize(&mut block.vectors[start..]);
    }
    Ok(mirror)
}

/// One candidate: better means a higher score, then an earlier position (a stable order).
#[derive(Clone, Copy, Debug)]
struct Hit {
    score: f32,
    seq: usize,
    id: i64,
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Hit {}

/// The `k` best rows for a unit `query`, best first. A min-heap of size k keeps the scan
/// O(n log k) with no allocation per row.
fn top_k(mirror: &BTreeMap<String, Block>, query: &[f32], k: usize, dims: usize) -> Vec<Hit> {
    // Callers list everything with a huge k: size the heap by what exists, not by k.
    let k = k.min(mirror.values().map(|b| b.ids.len()).sum());
    let mut heap: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(k);
    let rows = mirror.values().flat_map(|b| b.ids.iter().zip(b.vectors.chunks_exact(dims)));
    for (seq, (id, v)) in rows.enumerate() {
        let hit = Hit { score: dot(query, v), seq, id: *id };
        if heap.len() < k {
            heap.push(Reverse(hit));
        } else if let Some(mut worst) = heap.peek_mut()
            && hit > worst.0
        {
            *worst = Reverse(hit);
        }
    }
    let mut hits: Vec<Hit> = heap.into_iter().map(|Reverse(h)| h).collect();
    hits.sort_unstable_by(|a, b| b.cmp(a));
    hits
}

/// Eight independent sums, so the compiler can keep them in vector registers (it may not
/// reorder a single float sum).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a8, a_tail) = a.as_chunks::<8>();
    let (b8, b_tail) = b.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in a8.iter().zip(b8) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Scales to unit length; a zero vector stays zero, so it scores 0 against anything, never NaN.
fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v.fill(0.0);
    }
}

fn lock(conn: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>, RagError> {
    conn.lock().map_err(|_| poisoned())
}

fn poisoned() -> RagError {
    RagError::Failed("the local vector index is unusable: a thread panicked while holding it".into())
}

fn sql(e: rusqlite::Error) -> RagError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            RagError::Throttled(format!("the local vector index is busy: {e}"))
        }
        _ => RagError::Failed(format!("local vector index: {e}")),
    }
}

#[cfg(test)]
#[path = "sqlite_index_tests.rs"]
mod tests;
