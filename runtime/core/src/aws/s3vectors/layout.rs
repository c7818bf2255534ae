//! How documents are laid out in the two S3 Vectors indexes, without the SDK: the keys, the
//! manifest that says which keys a document owns, and the metadata each vector carries, checked
//! against AWS's limits before anything is sent.
//!
//! S3 Vectors cannot list keys by prefix, and a filtered query returns at most 100 vectors, so
//! the index alone cannot say which vectors belong to a 2,000-chunk document. The keys are
//! deterministic instead, `{doc}/{generation}/{chunk}`, and one manifest vector per document (in
//! the `manifests` index, key `{doc}`) records the generations written: from it every key of the
//! document can be named and deleted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ports::{IndexedChunk, IndexedVersion, RagError};

/// AWS's limits (the S3 Vectors "Limitations and restrictions" page).
pub const MAX_PUT_VECTORS: usize = 500;
pub const MAX_DELETE_KEYS: usize = 500;
pub const MAX_TOP_K: usize = 100;
pub const MAX_LIST_RESULTS: i32 = 1000;
pub const MAX_METADATA_BYTES: usize = 40 * 1024;
pub const MAX_FILTERABLE_BYTES: usize = 2 * 1024;
pub const MAX_METADATA_KEYS: usize = 50;

/// The chunk metadata the `chunks` index declares non-filterable (templates/ai.yaml): the large
/// fields, which are neither filtered on nor billed as data processed by a query.
pub const NON_FILTERABLE_CHUNK_KEYS: [&str; 3] = ["text", "title", "source"];
/// The manifests index's one metadata key, also non-filterable.
pub const MANIFEST_KEY: &str = "manifest";

/// A document's id in the keys: the S3 key can be 1,024 bytes, a vector key no longer, so it is
/// hashed (128 bits of SHA-256: no collision among a personal corpus).
pub fn document_id(source: &str) -> String {
    crate::digest::sha256_hex(source.as_bytes())[..32].to_owned()
}

pub fn chunk_key(doc: &str, generation: &str, chunk: u32) -> String {
    format!("{doc}/{generation}/{chunk:05}")
}

/// A fresh generation: each re-index writes its own keys, so the previous version stays whole
/// until the new one is written.
pub fn new_generation() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// One set of keys a document owns: `chunks` vectors under one generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub generation: String,
    pub chunks: u32,
}

impl Generation {
    pub fn keys(&self, doc: &str) -> impl Iterator<Item = String> + '_ {
        let doc = doc.to_owned();
        (0..self.chunks).map(move |i| chunk_key(&doc, &self.generation, i))
    }
}

/// The version search serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveVersion {
    #[serde(flatten)]
    pub keys: Generation,
    pub sha256: String,
    pub ingested_at: String,
    /// What its vectors bill as storage: data, key and metadata.
    pub bytes: u64,
}

/// Everything the index holds of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub source: String,
    pub live: Option<LiveVersion>,
    /// Generations that may have vectors but are not live: one being written, or replaced ones
    /// not deleted yet. The next replace or delete removes them.
    #[serde(default)]
    pub pending: Vec<Generation>,
}

impl Manifest {
    pub fn empty(source: &str) -> Self {
        Self { source: source.to_owned(), live: None, pending: Vec::new() }
    }

    pub fn version(&self) -> IndexedVersion {
        match (&self.live, self.pending.is_empty()) {
            (Some(live), true) => {
                IndexedVersion::Whole { sha256: live.sha256.clone(), chunks: live.keys.chunks as usize }
            }
            (None, true) => IndexedVersion::Absent,
            _ => IndexedVersion::Mixed,
        }
    }

    /// Every generation that may own vectors.
    pub fn all_generations(&self) -> Vec<Generation> {
        let mut all = self.pending.clone();
        all.extend(self.live.iter().map(|l| l.keys.clone()));
        all
    }

    pub fn to_metadata(&self) -> Result<Value, RagError> {
        let json = serde_json::to_string(self).map_err(|e| {
            RagError::Failed(format!("could not encode the manifest of {}: {e}", self.source))
        })?;
        let mut map = Map::new();
        map.insert(MANIFEST_KEY.to_owned(), Value::String(json));
        Ok(Value::Object(map))
    }

    pub fn from_metadata(metadata: &Value) -> Result<Self, RagError> {
        let raw = metadata.get(MANIFEST_KEY).and_then(Value::as_str);
        let raw =
            raw.ok_or_else(|| RagError::Failed("a manifest vector has no `manifest` metadata".into()))?;
        serde_json::from_str(raw).map_err(|e| RagError::Failed(format!("an unreadable manifest: {e}")))
    }
}

/// One chunk as a vector: its key, its metadata and the bytes it bills as storage.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkVector {
    pub key: String,
    pub metadata: Value,
    pub bytes: u64,
}

/// The chunk's metadata, refused (naming the field, never quoting the text) when AWS would refuse
/// it, so a document fails before its first write rather than halfway.
pub fn chunk_vector(doc: &str, generation: &str, c: &IndexedChunk) -> Result<ChunkVector, RagError> {
    let key = chunk_key(doc, generation, c.chunk);
    let mut map = Map::new();
    map.insert("source".into(), Value::from(c.source.as_str()));
    map.insert("chunk".into(), Value::from(c.chunk));
    map.insert("title".into(), Value::from(c.title.as_str()));
    map.insert("sha256".into(), Value::from(c.sha256.as_str()));
    map.insert("ingested_at".into(), Value::from(c.ingested_at.as_str()));
    map.insert("text".into(), Value::from(c.text.as_str()));
    let metadata = Value::Object(map);
    let what = format!("chunk {} of {}", c.chunk, c.source);
    let size = check_metadata(&what, &metadata, &NON_FILTERABLE_CHUNK_KEYS)?;
    let bytes = (c.vector.len() * 4 + key.len() + size) as u64;
    Ok(ChunkVector { key, metadata, bytes })
}

/// The metadata's size, or the limit it breaks. Sizes are counted as the JSON the SDK sends, which
/// is at least what AWS counts (keys and values), so nothing that passes here is refused there.
pub fn check_metadata(what: &str, metadata: &Value, non_filterable: &[&str]) -> Result<usize, RagError> {
    let Some(map) = metadata.as_object() else {
        return Err(RagError::Rejected(format!("{what}: metadata must be an object")));
    };
    if map.len() > MAX_METADATA_KEYS {
        return Err(RagError::Rejected(format!(
            "{what}: {} metadata keys, over S3 Vectors' limit of {MAX_METADATA_KEYS}",
            map.len()
        )));
    }
    let mut total = 2;
    let mut filterable = 2;
    for (name, value) in map {
        let size = json_len(&Value::String(name.clone())) + 1 + json_len(value) + 1;
        total += size;
        if !non_filterable.contains(&name.as_str()) {
            filterable += size;
        }
        if total > MAX_METADATA_BYTES {
            return Err(RagError::Rejected(format!(
                "{what}: metadata field `{name}` takes the metadata over S3 Vectors' {} KB limit",
                MAX_METADATA_BYTES / 1024
            )));
        }
        if filterable > MAX_FILTERABLE_BYTES {
            return Err(RagError::Rejected(format!(
                "{what}: filterable metadata field `{name}` takes the filterable metadata over S3 \
                 Vectors' {} KB limit",
                MAX_FILTERABLE_BYTES / 1024
            )));
        }
    }
    Ok(total)
}

fn json_len(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str, title: &str) -> IndexedChunk {
        IndexedChunk {
            source: "docs/a.md".into(),
            chunk: 7,
            title: title.into(),
            sha256: "ab".repeat(32),
            text: text.into(),
            vector: vec![0.0; 1024],
            ingested_at: "2026-12-02T06:00:00Z".into(),
        }
    }

    #[test]
    fn keys_are_deterministic_and_short() {
        let doc = document_id(&format!("docs/{}", "x".repeat(1019)));
        assert_eq!(doc.len(), 32);
        assert_eq!(doc, document_id(&format!("docs/{}", "x".repeat(1019))));
        assert_ne!(doc, document_id("docs/b.md"));
        let g = Generation { generation: "0123456789abcdef".into(), chunks: 3 };
        let keys: Vec<String> = g.keys(&doc).collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[2], format!("{doc}/0123456789abcdef/00002"));
        assert_ne!(new_generation(), new_generation());
    }

    #[test]
    fn a_manifest_says_what_is_indexed() {
        let mut m = Manifest::empty("docs/a.md");
        assert_eq!(m.version(), IndexedVersion::Absent);
        m.pending.push(Generation { generation: "g1".into(), chunks: 4 });
        assert_eq!(m.version(), IndexedVersion::Mixed, "a first write cut short");
        m.live = Some(LiveVersion {
            keys: m.pending.remove(0),
            sha256: "s".into(),
            ingested_at: "t".into(),
            bytes: 10,
        });
        assert_eq!(m.version(), IndexedVersion::Whole { sha256: "s".into(), chunks: 4 });
        m.pending.push(Generation { generation: "g0".into(), chunks: 2000 });
        assert_eq!(m.version(), IndexedVersion::Mixed, "stale keys not deleted yet");
        assert_eq!(m.all_generations().iter().map(|g| g.chunks).sum::<u32>(), 2004);
        let back = Manifest::from_metadata(&m.to_metadata().unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn chunk_metadata_within_the_limits_is_sized() {
        let v = chunk_vector("d", "g", &chunk("some text", "A title")).unwrap();
        assert_eq!(v.key, "d/g/00007");
        assert_eq!(v.metadata["text"], "some text");
        assert_eq!(v.metadata["chunk"], 7);
        assert!(v.bytes > 4096 + 9 && v.bytes < 4096 + 400, "{}", v.bytes);
    }

    #[test]
    fn metadata_over_a_limit_is_refused_naming_the_field_not_the_text() {
        let secret = "confidential ".repeat(4000);
        let err = chunk_vector("d", "g", &chunk(&secret, "t")).unwrap_err();
        let RagError::Rejected(msg) = err else { panic!("{err:?}") };
        assert!(msg.contains("`text`") && msg.contains("40 KB"), "{msg}");
        assert!(!msg.contains("confidential"), "{msg}");

        // A filterable field over 2 KB: the title is non-filterable, so grow a filterable one.
        let mut c = chunk("t", "t");
        c.ingested_at = "9".repeat(2100);
        let err = chunk_vector("d", "g", &c).unwrap_err();
        assert!(
            matches!(&err, RagError::Rejected(m) if m.contains("`ingested_at`") && m.contains("2 KB")),
            "{err:?}"
        );

        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), Value::from(i))).collect();
        let err = check_metadata("v", &Value::Object(many), &[]).unwrap_err();
        assert!(matches!(&err, RagError::Rejected(m) if m.contains("51 metadata keys")), "{err:?}");
    }
}
