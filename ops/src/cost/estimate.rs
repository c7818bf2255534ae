//! A vector store's monthly cost before it is chosen: what `enable-rag` and `deploy` state
//! before they change anything. The corpus is the store's own size when there is one, else an
//! assumed 1,000 documents; queries are an assumed rate, said as such.

use serde::Serialize;

use super::prices::{GIB, RegionPrices};
use crate::vector_store::{Corpus, KEY_AND_FILTERABLE_BYTES, Size, VectorStore};

/// When nothing is indexed yet, the corpus priced is this many documents ...
pub const ASSUMED_DOCUMENTS: u64 = 1_000;
/// ... of this many chunks each (a few pages of text at the chunker's 512 tokens a chunk) ...
pub const ASSUMED_CHUNKS_PER_DOCUMENT: u64 = 10;
/// ... carrying this much metadata each: the chunk's text (512 tokens, about 2 KB), its title
/// and source.
pub const ASSUMED_METADATA_BYTES: u64 = 2_200;
/// Retrievals a month when none have been measured: 100 a day.
pub const ASSUMED_QUERIES_PER_MONTH: u64 = 3_000;
/// What AWS bills a month of standing charges as.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// A part too small for four decimals says so rather than reading $0.0000.
fn small(x: f64) -> String {
    if x > 0.0 && x < 0.000_05 { "under $0.0001".into() } else { super::bill::usd(x) }
}

/// OpenSearch's floor when the price table cannot give this Region's figure.
pub const OPENSEARCH_FLOOR: &str = "OpenSearch Serverless bills at least about $175 a month (1 OCU with standby \
replicas off; about $350 with them on, as in prod) until `opsctl disable-rag`, whether or not anyone chats.";

#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub vector_store: VectorStore,
    /// `current corpus`, `current documents` or `assumed corpus`.
    pub basis: String,
    pub documents: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub dimensions: u32,
    pub queries_per_month: u64,
    /// `None` when the price table has no figures for the store in this Region.
    pub monthly_usd: Option<f64>,
    /// Writing every vector once (a first index or a re-index), billed once, not monthly.
    pub one_time_usd: Option<f64>,
    pub parts: Vec<Part>,
    /// OpenSearch Serverless's floor in this environment, whichever store is chosen.
    pub opensearch_floor_usd: f64,
    pub opensearch_floor_ocus: f64,
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub item: String,
    pub usd: f64,
}

/// The corpus priced, and how it was arrived at: the index's own size, the bucket's documents
/// with assumed chunks, or the assumed 1,000 documents when there is nothing yet.
pub fn corpus_of(size: Size, dimensions: u32) -> (Corpus, &'static str) {
    let assumed = |documents: u64| {
        let chunks = documents * ASSUMED_CHUNKS_PER_DOCUMENT;
        let per_vector = 4 * u64::from(dimensions) + KEY_AND_FILTERABLE_BYTES + ASSUMED_METADATA_BYTES;
        Corpus { documents, chunks, bytes: chunks * per_vector }
    };
    match size {
        Size::Indexed(c) if c.chunks > 0 => (c, "current corpus"),
        Size::Documents(n) if n > 0 => (assumed(n), "current documents"),
        _ => (assumed(ASSUMED_DOCUMENTS), "assumed corpus"),
    }
}

/// The monthly cost of `store` for `current` (or the assumed corpus), at `prices`.
pub fn estimate(
    store: VectorStore,
    size: Size,
    dimensions: u32,
    prices: &RegionPrices,
    prod: bool,
) -> Estimate {
    let (corpus, basis) = corpus_of(size, dimensions);
    let o = &prices.opensearch_serverless;
    let floor_ocus = if prod { o.floor_ocus_prod } else { o.floor_ocus_non_prod };
    let floor = floor_ocus * HOURS_PER_MONTH * o.ocu_hour;
    let queries = ASSUMED_QUERIES_PER_MONTH;
    let mut assumptions = vec![format!("{queries} retrievals a month (about 100 a day)")];
    let chunks = format!(
        "{ASSUMED_CHUNKS_PER_DOCUMENT} chunks a document, {ASSUMED_METADATA_BYTES} bytes of text and metadata a chunk"
    );
    match basis {
        "assumed corpus" => {
            assumptions.push(format!("nothing is indexed yet: {ASSUMED_DOCUMENTS} documents of {chunks}"))
        }
        "current documents" => {
            assumptions.push(format!("the documents in the bucket, at {chunks} (the collection is not read)"))
        }
        _ => {}
    }
    let (monthly_usd, one_time_usd, parts) = match store {
        VectorStore::S3Vectors => match &prices.s3_vectors {
            Some(v) => {
                let gb = corpus.bytes as f64 / GIB;
                let per_vector = f64::from(4 * dimensions) + KEY_AND_FILTERABLE_BYTES as f64;
                let parts = vec![
                    Part { item: "storage".into(), usd: gb * v.storage_gb_month },
                    Part { item: "queries".into(), usd: queries as f64 * v.queries_per_million / 1e6 },
                    Part {
                        item: "query data processed".into(),
                        usd: queries as f64 * v.query_data_usd(corpus.chunks as f64, per_vector),
                    },
                ];
                assumptions.push(format!(
                    "a query processes every vector of the index at {per_vector} bytes each (the vector, its key \
                     and filterable metadata)"
                ));
                (Some(parts.iter().map(|p| p.usd).sum()), Some(gb * v.put_per_gb), parts)
            }
            None => {
                assumptions.push("the price table has no S3 Vectors prices for this Region".into());
                (None, None, Vec::new())
            }
        },
        VectorStore::OpenSearch => {
            assumptions.push(format!(
                "the OCU floor alone ({floor_ocus} OCU x {HOURS_PER_MONTH} h); more OCUs are billed under load"
            ));
            (Some(floor), None, vec![Part { item: format!("{floor_ocus} OCU floor"), usd: floor }])
        }
    };
    Estimate {
        vector_store: store,
        basis: basis.into(),
        documents: corpus.documents,
        chunks: corpus.chunks,
        bytes: corpus.bytes,
        dimensions,
        queries_per_month: queries,
        monthly_usd,
        one_time_usd,
        parts,
        opensearch_floor_usd: floor,
        opensearch_floor_ocus: floor_ocus,
        assumptions,
    }
}

/// The estimate for `store` in `env`, from the size of the corpus `deployed` holds (assumed when
/// there is no stack yet), with the reason when only a rougher size could be had.
pub async fn for_environment(
    deployed: Option<&crate::deployed::Deployed>,
    region: &str,
    env: crate::config::Env,
    store: VectorStore,
    dimensions: u32,
) -> anyhow::Result<(Estimate, Option<String>)> {
    let book = super::prices::PriceBook::embedded()?;
    let prices = book.region(region)?;
    let (size, why) = match deployed {
        Some(d) => crate::docs::corpus::size(d).await,
        None => (Size::Unknown, None),
    };
    let prod = env == crate::config::Env::Prod;
    Ok((estimate(store, size, dimensions, prices, prod), why))
}

impl Estimate {
    /// The statement a person reads before approving: the chosen store's monthly cost, and
    /// OpenSearch's floor either way.
    pub fn lines(&self) -> Vec<String> {
        let usd = super::bill::usd;
        let corpus = format!(
            "the {} ({} documents, {} chunks of {} dimensions, {:.1} MiB)",
            self.basis,
            self.documents,
            self.chunks,
            self.dimensions,
            self.bytes as f64 / 1_048_576.0
        );
        let floor = format!(
            "at least about ${:.0} a month ({} OCU x {HOURS_PER_MONTH} h)",
            self.opensearch_floor_usd, self.opensearch_floor_ocus
        );
        let mut lines = Vec::new();
        match (self.vector_store, self.monthly_usd) {
            (VectorStore::S3Vectors, Some(monthly)) => {
                let parts: Vec<String> = self.parts.iter().map(|p| format!("{} {}", p.item, small(p.usd))).collect();
                lines.push(format!(
                    "vector store S3 Vectors: about {} a month for {corpus}: {}; plus {} once to write the vectors",
                    usd(monthly),
                    parts.join(", "),
                    small(self.one_time_usd.unwrap_or(0.0))
                ));
                lines.push(format!("  OpenSearch Serverless instead bills {floor} whether or not anyone chats"));
            }
            (VectorStore::S3Vectors, None) => {
                lines.push(format!(
                    "vector store S3 Vectors: the price table has no S3 Vectors prices for this Region, so there is \
                     no estimate for {corpus}; S3 Vectors has no minimum charge"
                ));
                lines.push(format!("  OpenSearch Serverless instead bills {floor} whether or not anyone chats"));
            }
            (VectorStore::OpenSearch, _) => lines.push(format!(
                "vector store OpenSearch Serverless: {floor} for {corpus}, from now until `opsctl disable-rag`, \
                 whether or not anyone chats; S3 Vectors has no minimum charge"
            )),
        }
        lines.extend(self.assumptions.iter().map(|a| format!("  assumed: {a}")));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::prices::PriceBook;

    fn us_east_1() -> RegionPrices {
        PriceBook::embedded().unwrap().region("us-east-1").unwrap().clone()
    }

    #[test]
    fn an_empty_store_is_priced_for_a_thousand_documents() {
        let e = estimate(VectorStore::S3Vectors, Size::Unknown, 1_024, &us_east_1(), false);
        assert_eq!((e.documents, e.chunks, e.basis.as_str()), (1_000, 10_000, "assumed corpus"));
        // 10,000 × (4,096 + 64 + 2,200) bytes = 63.6 MB = 0.0592 GiB × $0.06.
        let storage = 10_000.0 * 6_360.0 / GIB * 0.06;
        assert!((e.parts[0].usd - storage).abs() < 1e-12);
        // 3,000 × $2.50/M.
        assert!((e.parts[1].usd - 0.0075).abs() < 1e-12);
        // 3,000 queries × 10,000 vectors × 4,160 bytes, all in the first tier at $0.004/TiB.
        let data = 3_000.0 * 10_000.0 * 4_160.0 / (GIB * 1_024.0) * 0.004;
        assert!((e.parts[2].usd - data).abs() < 1e-12);
        assert!(e.monthly_usd.unwrap() < 0.02, "{e:?}");
        assert!((e.one_time_usd.unwrap() - 10_000.0 * 6_360.0 / GIB * 0.20).abs() < 1e-12);
        let text = e.lines().join("\n");
        assert!(text.contains("about $0.01 a month") && text.contains("about $175 a month"), "{text}");
        assert!(text.contains("assumed: nothing is indexed yet"), "{text}");
    }

    #[test]
    fn the_current_corpus_is_priced_when_there_is_one() {
        let corpus = Corpus { documents: 20, chunks: 2_000, bytes: 12_288_000 };
        let e = estimate(VectorStore::S3Vectors, Size::Indexed(corpus), 1_024, &us_east_1(), false);
        assert_eq!((e.chunks, e.bytes, e.basis.as_str()), (2_000, 12_288_000, "current corpus"));
        assert!(!e.assumptions.iter().any(|a| a.contains("nothing is indexed")));
        let empty = Corpus { documents: 0, chunks: 0, bytes: 0 };
        assert_eq!(
            estimate(VectorStore::S3Vectors, Size::Indexed(empty), 1_024, &us_east_1(), false).chunks,
            10_000
        );
        let docs = estimate(VectorStore::S3Vectors, Size::Documents(7), 1_024, &us_east_1(), false);
        assert_eq!((docs.documents, docs.chunks, docs.basis.as_str()), (7, 70, "current documents"));
    }

    #[test]
    fn opensearch_states_its_floor_and_prod_pays_twice_it() {
        let dev = estimate(VectorStore::OpenSearch, Size::Unknown, 1_024, &us_east_1(), false);
        assert!((dev.monthly_usd.unwrap() - 175.2).abs() < 1e-9);
        let prod = estimate(VectorStore::OpenSearch, Size::Unknown, 1_024, &us_east_1(), true);
        assert!((prod.monthly_usd.unwrap() - 350.4).abs() < 1e-9);
        assert!(dev.lines()[0].contains("$175 a month"), "{:?}", dev.lines());
        assert!(prod.lines()[0].contains("$350 a month"), "{:?}", prod.lines());
    }

    #[test]
    fn a_region_without_s3_vectors_prices_says_so() {
        let eu = PriceBook::embedded().unwrap().region("eu-west-1").unwrap().clone();
        let e = estimate(VectorStore::S3Vectors, Size::Unknown, 1_024, &eu, false);
        assert_eq!(e.monthly_usd, None);
        assert!(e.lines()[0].contains("no S3 Vectors prices for this Region"), "{:?}", e.lines());
    }
}
