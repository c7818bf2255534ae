//! The arithmetic: usage × unit price, per service, month to date and projected to month end.
//!
//! Metered usage is projected linearly on the elapsed fraction of the month. Standing charges
//! (the KMS key, the OpenSearch Serverless OCU floor, alarms) accrue by the hour whatever the
//! traffic, so their projection is the whole month's charge.

use comfy_table::Table;
use serde::{Serialize, Serializer};

use super::Window;
use super::prices::{GIB, RegionPrices};
use super::usage::{S3VectorsUsage, Usage};
use crate::vector_store::KEY_AND_FILTERABLE_BYTES;

/// What the prices apply to.
pub struct Terms<'a> {
    pub prices: &'a RegionPrices,
    pub x86_64: bool,
    /// Prod runs its collection with standby replicas, which raises the OCU floor.
    pub prod: bool,
    pub window: Window,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub service: String,
    pub usage: String,
    pub unit_price: String,
    #[serde(serialize_with = "micro_dollars")]
    pub month_to_date_usd: f64,
    #[serde(serialize_with = "micro_dollars")]
    pub projected_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub lines: Vec<Line>,
    #[serde(serialize_with = "micro_dollars")]
    pub month_to_date_usd: f64,
    #[serde(serialize_with = "micro_dollars")]
    pub projected_usd: f64,
    pub notes: Vec<String>,
}

fn micro_dollars<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1e6).round() / 1e6)
}

fn metered(service: String, usage: String, unit_price: String, mtd: f64, fraction: f64) -> Line {
    Line { service, usage, unit_price, month_to_date_usd: mtd, projected_usd: mtd / fraction }
}

pub fn compute(u: &Usage, t: &Terms) -> Bill {
    let p = t.prices;
    let f = t.window.elapsed_fraction();
    let mut lines = Vec::new();
    let mut notes = Vec::new();

    let gb_second = if t.x86_64 { p.lambda.x86_64_gb_second } else { p.lambda.arm64_gb_second };
    let arch = if t.x86_64 { "x86_64" } else { "arm64" };
    for fun in &u.functions {
        let gb_s = fun.duration_ms / 1_000.0 * f64::from(fun.memory_mb) / 1_024.0;
        let usd = gb_s * gb_second + fun.invocations * p.lambda.per_million_requests / 1e6;
        lines.push(metered(
            format!("Lambda {} ({} MB, {arch})", fun.name, fun.memory_mb),
            format!("{} invocations, {} GB-s", thousands(fun.invocations), thousands(gb_s)),
            format!("{}/GB-s + {}/M requests", price(gb_second), price(p.lambda.per_million_requests)),
            usd,
            f,
        ));
    }
    // A function URL has no price of its own: each request is a chat invocation, already billed
    // on the chat function's line. The line stays so the bill still shows the API's traffic.
    lines.push(Line {
        service: "Lambda function URL (the API)".into(),
        usage: format!("{} requests", thousands(u.api_requests)),
        unit_price: "no charge: billed as chat invocations".into(),
        month_to_date_usd: 0.0,
        projected_usd: 0.0,
    });
    lines.push(metered(
        "DynamoDB on-demand".into(),
        format!("{} RRU, {} WRU", thousands(u.read_units), thousands(u.write_units)),
        format!("{}/M RRU, {}/M WRU", price(p.dynamodb.per_million_rru), price(p.dynamodb.per_million_wru)),
        (u.read_units * p.dynamodb.per_million_rru + u.write_units * p.dynamodb.per_million_wru) / 1e6,
        f,
    ));
    for m in &u.tokens {
        let (usd, unit) = match p.tokens(&m.model) {
            Some(tp) => (
                (m.input * tp.input_per_1k_tokens + m.output * tp.output_per_1k_tokens) / 1_000.0,
                format!("{}/1k in, {}/1k out", price(tp.input_per_1k_tokens), price(tp.output_per_1k_tokens)),
            ),
            None => {
                notes.push(format!("{} has no price in the table: its tokens are not counted", m.model));
                (0.0, "not in the price table".into())
            }
        };
        let usage = format!("{} in / {} out tokens", thousands(m.input), thousands(m.output));
        lines.push(metered(format!("Bedrock {}", m.model), usage, unit, usd, f));
    }
    lines.push(metered(
        "KMS requests".into(),
        format!("{} requests", thousands(u.kms_requests)),
        format!("{}/10k requests", price(p.kms.per_10k_requests)),
        u.kms_requests * p.kms.per_10k_requests / 10_000.0,
        f,
    ));
    lines.push(Line {
        service: "KMS key".into(),
        usage: "1 key".into(),
        unit_price: format!("{}/key-month", price(p.kms.key_month)),
        month_to_date_usd: p.kms.key_month * f,
        projected_usd: p.kms.key_month,
    });
    if let Some(measured) = u.collection {
        let o = &p.opensearch_serverless;
        let floor = if t.prod { o.floor_ocus_prod } else { o.floor_ocus_non_prod };
        let ocu_hours = measured.unwrap_or(0.0) * t.window.elapsed_hours();
        let mtd_hours = ocu_hours.max(floor * t.window.elapsed_hours());
        let projected_hours = (ocu_hours / f).max(floor * t.window.month_hours());
        lines.push(Line {
            service: "OpenSearch Serverless".into(),
            usage: format!("{} OCU-hours (floor {floor} OCU)", decimals(mtd_hours, 1)),
            unit_price: format!("{}/OCU-hour", price(o.ocu_hour)),
            month_to_date_usd: mtd_hours * o.ocu_hour,
            projected_usd: projected_hours * o.ocu_hour,
        });
        if measured.is_none() {
            notes.push("no OCU metrics in AWS/AOSS: the collection is charged at its floor".into());
        }
    }
    if let Some(v) = &u.s3_vectors {
        lines.push(s3_vectors(v, p, &t.window, &mut notes));
    }
    let gib = u.s3_average_bytes / GIB;
    lines.push(Line {
        service: "S3 Standard (documents)".into(),
        usage: format!("{} GB average", decimals(gib, 3)),
        unit_price: format!("{}/GB-month", price(p.s3_standard_gb_month)),
        month_to_date_usd: gib * p.s3_standard_gb_month * f,
        projected_usd: gib * p.s3_standard_gb_month,
    });
    let alarms = f64::from(u.alarm_metrics);
    lines.push(Line {
        service: "CloudWatch alarms".into(),
        usage: format!("{} alarm metrics", u.alarm_metrics),
        unit_price: format!("{}/alarm-month", price(p.cloudwatch_alarm_metric_month)),
        month_to_date_usd: alarms * p.cloudwatch_alarm_metric_month * f,
        projected_usd: alarms * p.cloudwatch_alarm_metric_month,
    });

    let month_to_date_usd = lines.iter().map(|l| l.month_to_date_usd).sum();
    let projected_usd = lines.iter().map(|l| l.projected_usd).sum();
    Bill { lines, month_to_date_usd, projected_usd, notes }
}

/// S3 Vectors: storage is the index's size now, held for the whole month (a standing charge);
/// PUTs are the bytes ingestion wrote; every retrieval is one query, whose data-processed fee
/// counts every vector of the index at its vector, key and filterable metadata bytes.
fn s3_vectors(v: &S3VectorsUsage, p: &RegionPrices, window: &Window, notes: &mut Vec<String>) -> Line {
    let f = window.elapsed_fraction();
    let corpus = v.corpus.unwrap_or_default();
    let stored_gb = corpus.bytes as f64 / GIB;
    let written_gb = v.bytes_written / GIB;
    let per_vector = f64::from(4 * v.dimensions) + KEY_AND_FILTERABLE_BYTES as f64;
    let usage = format!(
        "{} vectors, {} GB stored; {} GB written; {} queries",
        thousands(corpus.chunks as f64),
        decimals(stored_gb, 4),
        decimals(written_gb, 4),
        thousands(v.queries)
    );
    let service = "S3 Vectors".to_owned();
    let Some(sv) = &p.s3_vectors else {
        notes.push(
            "the price table has no S3 Vectors prices for this Region: the vector store is not counted"
                .into(),
        );
        return Line {
            service,
            usage,
            unit_price: "not in the price table".into(),
            month_to_date_usd: 0.0,
            projected_usd: 0.0,
        };
    };
    let storage = stored_gb * sv.storage_gb_month;
    let metered = written_gb * sv.put_per_gb
        + v.queries * sv.queries_per_million / 1e6
        + v.queries * sv.query_data_usd(corpus.chunks as f64, per_vector);
    let first_tier = sv.query_data_per_tb.first().map_or(0.0, |t| t.usd);
    notes.push(format!(
        "S3 Vectors: storage is the index's size now, held all month; each of the {} queries processes all {} \
         vectors at {per_vector} bytes (vector, key, filterable metadata); PUTs are ingestion's \
         VectorBytesWritten; S3 Vectors prices of {}",
        thousands(v.queries),
        thousands(corpus.chunks as f64),
        sv.source_date
    ));
    Line {
        service,
        usage,
        unit_price: format!(
            "{}/GB-month + {}/GB written + {}/M queries + {}/TB processed",
            price(sv.storage_gb_month),
            price(sv.put_per_gb),
            price(sv.queries_per_million),
            price(first_tier)
        ),
        month_to_date_usd: storage * f + metered,
        projected_usd: storage + metered / f,
    }
}

/// The table people read; JSON carries the same lines.
pub fn table(bill: &Bill) -> Table {
    let mut t = Table::new();
    t.set_header(["service", "usage", "unit price", "month to date", "projected"]);
    for l in &bill.lines {
        t.add_row([
            l.service.clone(),
            l.usage.clone(),
            l.unit_price.clone(),
            usd(l.month_to_date_usd),
            usd(l.projected_usd),
        ]);
    }
    t.add_row([
        "total".into(),
        String::new(),
        String::new(),
        usd(bill.month_to_date_usd),
        usd(bill.projected_usd),
    ]);
    t
}

/// The line `--check` prints for CI logs, and whether the projection is within the budget.
pub fn verdict(env: &str, projected: f64, budget: f64) -> (String, bool) {
    let ok = projected <= budget;
    let word = if ok { "ok" } else { "over budget" };
    (format!("cost {env}: projected {} of {} budget ({word})", usd2(projected), usd2(budget)), ok)
}

/// Dollars to the cent, or to a hundredth of a cent below one cent, so small lines do not all
/// read $0.00.
pub fn usd(x: f64) -> String {
    // An empty f64 sum is -0.0, which would print as "$-0.00".
    let x = x + 0.0;
    if x != 0.0 && x.abs() < 0.01 { format!("${x:.4}") } else { usd2(x) }
}

fn usd2(x: f64) -> String {
    format!("${:.2}", x + 0.0)
}

/// A unit price as the table gives it, with at least two decimals: $0.20, $0.0000133334.
fn price(x: f64) -> String {
    let s = format!("{x}");
    match s.split_once('.') {
        Some((_, d)) if d.len() >= 2 => format!("${s}"),
        _ => format!("${x:.2}"),
    }
}

fn decimals(x: f64, places: usize) -> String {
    format!("{x:.places$}")
}

/// A count rounded to a whole number, with thousands separators.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < -0.5 { format!("-{out}") } else { out }
}
