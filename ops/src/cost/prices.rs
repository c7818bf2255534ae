//! The price table, `pricing/prices.json`, compiled into the binary: `opsctl cost` must give the
//! same answer offline and in CI, and the table's `source_date` says how old its figures are.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

const TABLE: &str = include_str!("../../../pricing/prices.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBook {
    pub source_date: String,
    pub note: String,
    pub regions: BTreeMap<String, RegionPrices>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    pub lambda: LambdaPrices,
    pub dynamodb: DynamoDbPrices,
    pub kms: KmsPrices,
    pub bedrock: BTreeMap<String, TokenPrices>,
    pub opensearch_serverless: OcuPrices,
    pub s3_standard_gb_month: f64,
    pub cloudwatch_alarm_metric_month: f64,
    /// Only where the table has the Region's figures; elsewhere the store is named unpriced.
    #[serde(default)]
    pub s3_vectors: Option<S3VectorsPrices>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3VectorsPrices {
    /// These figures were added after the rest of the table, so they carry their own date.
    pub source_date: String,
    pub storage_gb_month: f64,
    pub put_per_gb: f64,
    pub queries_per_million: f64,
    /// Ascending; the last tier has no upper bound.
    pub query_data_per_tb: Vec<DataTier>,
}

/// The per-TB price of the data a query processes for the index's vectors up to `vectors_up_to`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataTier {
    pub vectors_up_to: Option<u64>,
    pub usd: f64,
}

impl S3VectorsPrices {
    /// The data-processed fee of one query over an index of `vectors` vectors of
    /// `bytes_per_vector` each: each tier's share of the vectors at its price.
    pub fn query_data_usd(&self, vectors: f64, bytes_per_vector: f64) -> f64 {
        let mut below = 0.0;
        let mut usd = 0.0;
        for tier in &self.query_data_per_tb {
            let top = tier.vectors_up_to.map_or(f64::INFINITY, |v| v as f64);
            let here = (vectors.min(top) - below).max(0.0);
            usd += here * bytes_per_vector / TIB * tier.usd;
            below = top;
        }
        usd
    }
}

/// AWS bills storage in binary gigabytes and terabytes.
pub const GIB: f64 = 1_073_741_824.0;
pub const TIB: f64 = GIB * 1_024.0;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaPrices {
    pub arm64_gb_second: f64,
    pub x86_64_gb_second: f64,
    pub per_million_requests: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbPrices {
    pub per_million_rru: f64,
    pub per_million_wru: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KmsPrices {
    pub per_10k_requests: f64,
    pub key_month: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrices {
    pub input_per_1k_tokens: f64,
    pub output_per_1k_tokens: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OcuPrices {
    pub ocu_hour: f64,
    pub floor_ocus_non_prod: f64,
    pub floor_ocus_prod: f64,
}

/// The cross-Region inference profile prefixes Bedrock puts before a model id.
const PROFILE_PREFIXES: [&str; 5] = ["us.", "eu.", "jp.", "apac.", "global."];

impl PriceBook {
    pub fn embedded() -> anyhow::Result<Self> {
        serde_json::from_str(TABLE)
            .context("pricing/prices.json, compiled into opsctl, is not a valid price table")
    }

    pub fn region(&self, region: &str) -> anyhow::Result<&RegionPrices> {
        self.regions.get(region).with_context(|| {
            let known: Vec<&str> = self.regions.keys().map(String::as_str).collect();
            format!(
                "the price table ({}) has no prices for {region}; it has {}. Add the region to \
                 pricing/prices.json from AWS's pricing pages",
                self.source_date,
                known.join(", ")
            )
        })
    }
}

impl RegionPrices {
    /// A model's token prices: its own id first, then the id without an inference-profile prefix.
    pub fn tokens(&self, model_id: &str) -> Option<TokenPrices> {
        if let Some(p) = self.bedrock.get(model_id) {
            return Some(*p);
        }
        let base = PROFILE_PREFIXES.iter().find_map(|p| model_id.strip_prefix(p))?;
        self.bedrock.get(base).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_prices_every_promised_region_and_model() {
        let book = PriceBook::embedded().unwrap();
        assert!(
            time::Date::parse(&book.source_date, time::macros::format_description!("[year]-[month]-[day]"))
                .is_ok()
        );
        assert!(book.note.contains("check"), "the note must say the figures need checking");
        for region in ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"] {
            let r = book.region(region).unwrap();
            for model in ["us.anthropic.claude-sonnet-4-6", "amazon.titan-embed-text-v2:0"] {
                assert!(r.tokens(model).is_some(), "{region} has no price for {model}");
            }
            assert!(r.opensearch_serverless.floor_ocus_prod > r.opensearch_serverless.floor_ocus_non_prod);
            assert!(r.lambda.x86_64_gb_second > r.lambda.arm64_gb_second);
        }
    }

    #[test]
    fn a_missing_region_names_the_ones_the_table_has() {
        let book = PriceBook::embedded().unwrap();
        let err = book.region("sa-east-1").unwrap_err().to_string();
        assert!(err.contains("sa-east-1") && err.contains("us-east-1") && err.contains("eu-west-1"), "{err}");
    }

    #[test]
    fn profile_prefixes_fall_back_to_the_model_id() {
        let book = PriceBook::embedded().unwrap();
        let r = book.region("eu-west-1").unwrap();
        assert!(r.tokens("eu.anthropic.claude-sonnet-4-6").is_some());
        assert!(r.tokens("eu.meta.llama-unknown").is_none());
    }

    #[test]
    fn s3_vectors_query_data_is_tiered_by_the_indexs_vector_count() {
        let book = PriceBook::embedded().unwrap();
        let v = book.region("us-east-1").unwrap().s3_vectors.clone().unwrap();
        assert!(
            time::Date::parse(&v.source_date, time::macros::format_description!("[year]-[month]-[day]"))
                .is_ok()
        );
        assert!(v.query_data_per_tb.last().unwrap().vectors_up_to.is_none());
        // 1 TiB of vectors at 1 byte each: 100,000 in the first tier, the rest in the second.
        let all = TIB;
        let expected = 100_000.0 / TIB * 0.004 + (all - 100_000.0) / TIB * 0.002;
        assert!((v.query_data_usd(all, 1.0) - expected).abs() < 1e-12);
        assert!((v.query_data_usd(50_000.0, TIB / 100_000.0) - 0.002).abs() < 1e-12);
        assert_eq!(v.query_data_usd(0.0, 4_096.0), 0.0);
        assert!(book.region("eu-west-1").unwrap().s3_vectors.is_none(), "no unsourced figures");
    }

    /// The dev floor matches the README's "about $175 a month": 1 OCU × 730 h × $0.24.
    #[test]
    fn the_ocu_floor_matches_the_readme() {
        let book = PriceBook::embedded().unwrap();
        let o = &book.region("us-east-1").unwrap().opensearch_serverless;
        let dev = o.floor_ocus_non_prod * 730.0 * o.ocu_hour;
        let prod = o.floor_ocus_prod * 730.0 * o.ocu_hour;
        assert!((dev - 175.2).abs() < 0.01 && (prod - 350.4).abs() < 0.01, "{dev} {prod}");
    }
}
